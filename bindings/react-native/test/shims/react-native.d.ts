// The few declarations of react-native 0.81 this package's sources use, so `tsc --strict`
// runs without installing React Native (~200 MB). Copied in shape from react-native's own
// types; an app type-checks against the real package.
declare module 'react-native' {
  export interface TurboModule {
    getConstants?(): object;
  }
  export const TurboModuleRegistry: {
    get<T extends TurboModule>(name: string): T | null;
    getEnforcing<T extends TurboModule>(name: string): T;
  };
  export type AppStateStatus = 'active' | 'background' | 'inactive' | 'unknown' | 'extension';
  export const AppState: {
    currentState: AppStateStatus;
    addEventListener(type: 'change', listener: (state: AppStateStatus) => void): { remove(): void };
  };
}

// Metro's CommonJS `require`, for the optional packages.
declare function require(name: string): any;
