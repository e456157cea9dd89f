// react-native-upload-monitor: the facade over monitor-sdk's generated JSI bindings, wired to
// React Native (AppState), AsyncStorage and NetInfo when the app has them.
//
//   const monitor = await UploadMonitor.start({ supabaseUrl, anonKey, auth: supabase.auth });
//   const up = monitor.begin({ localId, filename, title, fileSize, source, metadata });
//   up.progress(sent, total); up.stage('creating_record'); up.complete(videoId);
//
// Needs the New Architecture (TurboModules) and Hermes: the bindings are installed through
// JSI, and the generated code relies on Hermes's BigInt, TextEncoder and FinalizationRegistry.

import { AppState } from 'react-native';
import bindings from './native/index';
import { fromGenerated } from './facade/native';
import { UploadMonitor as FacadeMonitor, type StartOptions } from './facade/monitor';
import { systemClock, type KeyValueStorage, type NetInfoLike, type Platform } from './facade/platform';

export * from './facade/errors';
export { Upload, errorCode } from './facade/upload';
export type { UploadProgressData, FailOptions } from './facade/upload';
export type {
  StartOptions,
  BeginOptions,
  InterruptedUpload,
  RetryRequest,
  MonitorHealth,
  LogEntry,
} from './facade/monitor';
export type { AuthLike, SessionLike } from './facade/platform';
export type { UploadStageName, UploadSourceName, LogLevelName, UploadStatusName } from './facade/native';

/** Optional packages: used when the app has them (Metro resolves a failed require to an error). */
function optional<T>(load: () => T): T | undefined {
  try {
    return load();
  } catch {
    return undefined;
  }
}

function reactNativePlatform(): Platform {
  const storage = optional(
    () => require('@react-native-async-storage/async-storage').default as KeyValueStorage,
  );
  const netInfo = optional(() => require('@react-native-community/netinfo').default as NetInfoLike);
  return {
    storage,
    netInfo,
    appState: AppState,
    clock: systemClock,
    defaultDatabaseDirectory: () =>
      optional(() => require('expo-file-system').documentDirectory as string | undefined) ?? undefined,
  };
}

const sdk = fromGenerated(bindings.monitor_sdk);

/** The monitor (see the package README). */
export class UploadMonitor {
  private constructor() {}

  /**
   * Opens the SDK's outbox, pushes the supabase-js session's token (and every later one),
   * imports `@pending_videos` / `@import_queue_state`, reports the uploads a killed app left
   * running as failed (`monitor.interrupted`: re-queue them), flushes when the app goes to
   * the background and polls admin retry requests when it becomes active.
   */
  static start(options: StartOptions): Promise<FacadeMonitor> {
    return FacadeMonitor.startWith(sdk, reactNativePlatform(), options);
  }
}

export type Monitor = FacadeMonitor;
