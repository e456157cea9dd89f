// What the facade needs of the app's environment, as structural types: React Native's
// AppState, AsyncStorage, NetInfo and supabase-js's `auth` all fit them, and so do the unit
// tests' fakes.

/** `@react-native-async-storage/async-storage` (getItem only: the facade never writes). */
export interface KeyValueStorage {
  getItem(key: string): Promise<string | null>;
}

/** React Native's `AppState`. */
export interface AppStateLike {
  currentState: string | null | undefined;
  addEventListener(type: 'change', listener: (state: string) => void): { remove(): void };
}

/** `@react-native-community/netinfo`'s default export. */
export interface NetInfoLike {
  addEventListener(
    listener: (state: { isConnected: boolean | null; isInternetReachable?: boolean | null }) => void,
  ): () => void;
}

/** The session fields the facade reads (supabase-js `Session`). */
export interface SessionLike {
  access_token: string;
}

/** supabase-js's `supabase.auth` (the four methods the facade calls). */
export interface AuthLike {
  getSession(): Promise<{ data: { session: SessionLike | null } }>;
  refreshSession(): Promise<{ data: { session: SessionLike | null }; error: unknown }>;
  onAuthStateChange(
    callback: (event: string, session: SessionLike | null) => void,
  ): { data: { subscription: { unsubscribe(): void } } };
}

/** Timers and time (the tests drive their own). */
export interface Clock {
  now(): number;
  setInterval(callback: () => void, ms: number): unknown;
  clearInterval(handle: unknown): void;
}

/** The environment of one monitor. */
export interface Platform {
  storage?: KeyValueStorage;
  appState?: AppStateLike;
  netInfo?: NetInfoLike;
  clock: Clock;
  /** A writable directory for the SDK's database, when the app gives no `databasePath`. */
  defaultDatabaseDirectory?: () => string | undefined;
}

/** The real clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setInterval: (callback, ms) => {
    const handle = setInterval(callback, ms);
    // Node (tests): a monitor's timers must not keep the process alive.
    (handle as { unref?: () => void }).unref?.();
    return handle;
  },
  clearInterval: (handle) => clearInterval(handle as ReturnType<typeof setInterval>),
};
