// What the facade needs of the generated bindings, as plain structural types: the JSI module
// (React Native), the N-API module (Node tests) and the unit tests' fake all fit it.

/** The generated `ReporterConfig` record's fields the facade sets. */
export interface NativeConfig {
  supabaseUrl: string;
  anonKey: string;
  databasePath: string;
}

/** The generated `SessionRefresher` foreign trait. */
export interface NativeRefresher {
  refreshAccessToken(): Promise<string | undefined>;
}

/** A buffered SDK log line (`LogLine`). */
export interface NativeLogLine {
  level: number;
  message: string;
  atMs: bigint;
}

/** `ReporterHealth`. */
export interface NativeHealth {
  pendingEvents: bigint;
  pendingBytes: bigint;
  oldestPendingAgeMs?: bigint;
  lastError?: string;
  lastSuccessAtMs?: bigint;
  droppedEvents: bigint;
  refusedEvents: bigint;
  deadLetteredEvents: bigint;
  deliveredEvents: bigint;
  duplicateEvents: bigint;
  quarantinedRows: bigint;
  isolatedUploads: bigint;
  isolatedEvents: bigint;
  configurationProblem?: string;
  requestsSent: bigint;
  coalescedProgress: bigint;
  online: boolean;
  progressIntervalMs: bigint;
}

/** `UploadInfo`. */
export interface NativeUploadInfo {
  uploadId: string;
  localId: string;
  uri?: string;
  filename: string;
  title?: string;
  status: number;
  progress: number;
  retryCount: number;
  error?: string;
  errorCode?: string;
  metadataJson: string;
}

/** `PendingRetry`. */
export interface NativeRetry {
  uploadId: string;
  localId?: string;
  requestedAt: string;
  retryCount: number;
}

/** `AsyncStorageImport`. */
export interface NativeImport {
  created: number;
  updated: number;
  unchanged: number;
  skipped: Array<string>;
}

/** The generated `UploadReporter`'s methods the facade calls. */
export interface NativeReporter {
  beginUpload(
    localId: string,
    title: string | undefined,
    filename: string,
    fileSize: bigint | undefined,
    source: number | undefined,
    metadataJson: string | undefined,
  ): string;
  reportProgress(uploadId: string, bytesSent: bigint, bytesTotal: bigint): void;
  reportStage(uploadId: string, stage: number): void;
  complete(uploadId: string, videoId: string | undefined): void;
  fail(uploadId: string, errorCode: string, message: string, retryCount: number): void;
  retry(uploadId: string): void;
  flush(timeoutMs: bigint): Promise<void>;
  health(): NativeHealth;
  setOnline(online: boolean): void;
  setAccessToken(accessToken: string | undefined): void;
  takeLogLines(max: number): Array<NativeLogLine>;
  setLogLevel(level: number): void;
  shutdown(): void;
  listUploads(): Array<NativeUploadInfo>;
  recoverAfterRestart(): Array<string>;
  importAsyncStorage(pendingVideosJson: string | undefined, importQueueStateJson: string | undefined): NativeImport;
  pendingRetryRequests(): Promise<Array<NativeRetry>>;
  uniffiDestroy(): void;
}

/** The generated enums' values, by the facade's names. */
export interface NativeEnums {
  stage: Record<UploadStageName, number>;
  source: Record<UploadSourceName, number>;
  logLevel: Record<LogLevelName, number>;
  status: Record<UploadStatusName, number>;
}

/** The facade's view of one binding flavour. */
export interface NativeSdk {
  enums: NativeEnums;
  createReporter(config: NativeConfig, accessToken: string | undefined, refresher: NativeRefresher): NativeReporter;
}

/** The app's pipeline steps (the spec's processItem STEP 1-6). */
export type UploadStageName =
  | 'validating'
  | 'extracting_metadata'
  | 'uploading'
  | 'creating_record'
  | 'generating_thumbnails'
  | 'queuing_transcription';

/** "📹 Recorded" or "📸 Imported". */
export type UploadSourceName = 'recorded' | 'imported';

/** Log levels. */
export type LogLevelName = 'debug' | 'info' | 'warn' | 'error';

/** The spec's four statuses. */
export type UploadStatusName = 'pending' | 'uploading' | 'completed' | 'failed';

/**
 * The parts of a generated module (JSI or N-API flavour) that `fromGenerated` reads. The
 * generated `UploadReporter` must be assignable to NativeReporter: `tsc` fails here when the
 * committed bindings and the facade disagree.
 */
export interface GeneratedModule<Config> {
  UploadReporter: new (config: Config, accessToken: string | undefined, refresher: NativeRefresher) => NativeReporter;
  ReporterConfig: { create(fields: NativeConfig): Config };
  UploadStage: Record<string, string | number>;
  UploadSource: Record<string, string | number>;
  LogLevel: Record<string, string | number>;
  UploadStatus: Record<string, string | number>;
}

function enumValues<K extends string>(generated: Record<string, string | number>, names: Record<K, string>): Record<K, number> {
  const out = {} as Record<K, number>;
  for (const key of Object.keys(names) as K[]) {
    const value = generated[names[key]];
    if (typeof value !== 'number') throw new Error(`the generated bindings lack ${names[key]}`);
    out[key] = value;
  }
  return out;
}

/** Wraps a module generated by uniffi-bindgen-react-native (JSI or N-API). */
export function fromGenerated<Config>(module: GeneratedModule<Config>): NativeSdk {
  return {
    enums: {
      stage: enumValues(module.UploadStage, {
        validating: 'Validating',
        extracting_metadata: 'ExtractingMetadata',
        uploading: 'Uploading',
        creating_record: 'CreatingRecord',
        generating_thumbnails: 'GeneratingThumbnails',
        queuing_transcription: 'QueuingTranscription',
      }),
      source: enumValues(module.UploadSource, { recorded: 'Recorded', imported: 'Imported' }),
      logLevel: enumValues(module.LogLevel, { debug: 'Debug', info: 'Info', warn: 'Warn', error: 'Error' }),
      status: enumValues(module.UploadStatus, {
        pending: 'Pending',
        uploading: 'Uploading',
        completed: 'Completed',
        failed: 'Failed',
      }),
    },
    createReporter(config, accessToken, refresher) {
      return new module.UploadReporter(module.ReporterConfig.create(config), accessToken, refresher);
    },
  };
}
