// UploadMonitor: the one object a React Native app holds. `start` opens the SDK's outbox,
// wires the supabase-js session, AppState and NetInfo, takes over the AsyncStorage queue and
// hands back the uploads a killed app left running.

import { toMonitorError, UploadMonitorError } from './errors';
import type { NativeReporter, NativeSdk, LogLevelName, UploadSourceName, UploadStatusName } from './native';
import type { AuthLike, Platform } from './platform';
import { Upload } from './upload';

/** One SDK log line, handed to the app's logger. */
export interface LogEntry {
  level: LogLevelName;
  message: string;
  at: Date;
}

/** Options of `UploadMonitor.start`. */
export interface StartOptions {
  /** `SUPABASE_URL`. */
  supabaseUrl: string;
  /** The project's anon key (never the service key). */
  anonKey: string;
  /** `supabase.auth`: the session's token is pushed on every auth state change. */
  auth: AuthLike;
  /** Receives the SDK's log lines (every 2 s and after a flush); may throw, harmlessly. */
  logger?: (entry: LogEntry) => void;
  /** Lowest level handed to `logger` (default `info`). */
  logLevel?: LogLevelName;
  /** The SQLite file; default `<documents>/upload-monitor.sqlite`. */
  databasePath?: string;
  /** Least time between two progress reports of one upload reaching the SDK (default 250). */
  progressIntervalMs?: number;
  /** Errors of calls that never throw (progress, stage, complete, fail, begin). */
  onError?: (error: UploadMonitorError) => void;
  /** Skip reading `@pending_videos` / `@import_queue_state` (default false). */
  skipAsyncStorageImport?: boolean;
}

/** What `begin` takes: the spec's `createUploadQueueRecord` arguments. */
export interface BeginOptions {
  /** The app's queue id (`ImportVideoItem.id`, `PendingVideo.id`). */
  localId: string;
  filename: string;
  title?: string;
  /** Bytes. */
  fileSize?: number;
  source?: UploadSourceName;
  /** The app's metadata (duration, isRecorded, ...); a JSON object. */
  metadata?: Record<string, unknown>;
}

/** An upload the app's previous process left running, now reported failed (`interrupted`). */
export interface InterruptedUpload {
  uploadId: string;
  localId: string;
  filename: string;
  title: string | undefined;
  uri: string | undefined;
  retryCount: number;
  metadata: Record<string, unknown>;
}

/** An admin's "Réessayer" for one of this user's uploads. */
export interface RetryRequest {
  uploadId: string;
  localId: string | undefined;
  requestedAt: string;
  retryCount: number;
}

/** Delivery figures, as numbers. */
export interface MonitorHealth {
  pendingEvents: number;
  pendingBytes: number;
  oldestPendingAgeMs: number | undefined;
  lastError: string | undefined;
  lastSuccessAt: Date | undefined;
  deliveredEvents: number;
  droppedEvents: number;
  refusedEvents: number;
  deadLetteredEvents: number;
  /** Stored rows unreadable and moved aside (ever). */
  quarantinedRows: number;
  /** Uploads set aside because the server keeps failing (5xx) on them; retried on their own backoff. */
  isolatedUploads: number;
  /** Their events waiting. */
  isolatedEvents: number;
  /**
   * Why the server refuses every request, when it does (the function missing, headers too
   * large, a grant missing): events are kept and retried; cleared by the next delivery.
   */
  configurationProblem: string | undefined;
  online: boolean;
  progressIntervalMs: number;
}

/** How often buffered SDK log lines are handed to the app's logger. */
const LOG_DRAIN_MS = 2_000;
/** The brief flush when the app goes to the background (iOS gives ~5 s). */
const BACKGROUND_FLUSH_MS = 3_000;
/** Lines taken per drain. */
const LOG_BATCH = 200;

function num(value: bigint | undefined): number | undefined {
  return value === undefined ? undefined : Number(value);
}

function parseMetadata(json: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(json);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {};
  } catch {
    return {};
  }
}

/** The monitor. */
export class UploadMonitor {
  /** Uploads the previous process left running (reported failed): re-queue them. */
  readonly interrupted: readonly InterruptedUpload[];

  private readonly cleanups: Array<() => void> = [];
  private readonly retryListeners = new Set<(request: RetryRequest) => void>();
  private readonly seenRetries = new Set<string>();
  private readonly levelNames: Record<number, LogLevelName>;
  private disposed = false;

  private constructor(
    private readonly sdk: NativeSdk,
    private readonly reporter: NativeReporter,
    private readonly platform: Platform,
    private readonly options: StartOptions,
    interrupted: InterruptedUpload[],
  ) {
    this.interrupted = interrupted;
    this.levelNames = {};
    for (const [name, value] of Object.entries(sdk.enums.logLevel)) {
      this.levelNames[value] = name as LogLevelName;
    }
  }

  /**
   * Opens the SDK with the session's token and wires the app's environment (see StartOptions).
   * Rejects with an UploadMonitorError when the SDK cannot open (bad URL, unwritable path).
   */
  static async startWith(sdk: NativeSdk, platform: Platform, options: StartOptions): Promise<UploadMonitor> {
    const databasePath = options.databasePath ?? defaultDatabasePath(platform);
    const { data } = await options.auth.getSession().catch(() => ({ data: { session: null } }));
    const refresher = {
      refreshAccessToken: async (): Promise<string | undefined> => {
        try {
          const answer = await options.auth.refreshSession();
          return answer.data.session?.access_token ?? undefined;
        } catch {
          return undefined;
        }
      },
    };
    let reporter: NativeReporter;
    try {
      reporter = sdk.createReporter(
        { supabaseUrl: options.supabaseUrl, anonKey: options.anonKey, databasePath },
        data.session?.access_token ?? undefined,
        refresher,
      );
    } catch (error) {
      throw toMonitorError(error);
    }
    const report = (error: UploadMonitorError) => {
      try {
        options.onError?.(error);
      } catch {
        // The app's handler threw: start goes on.
      }
    };
    try {
      reporter.setLogLevel(sdk.enums.logLevel[options.logLevel ?? 'info']);
    } catch (error) {
      report(toMonitorError(error));
    }

    // Before recovery: the app's own queue first, so recovery sees every upload it knew.
    if (!options.skipAsyncStorageImport && platform.storage) {
      try {
        const [pending, queue] = await Promise.all([
          platform.storage.getItem('@pending_videos'),
          platform.storage.getItem('@import_queue_state'),
        ]);
        if (pending !== null || queue !== null) {
          reporter.importAsyncStorage(pending ?? undefined, queue ?? undefined);
        }
      } catch (error) {
        report(toMonitorError(error));
      }
    }
    let interrupted: InterruptedUpload[] = [];
    try {
      const ids = new Set(reporter.recoverAfterRestart());
      if (ids.size > 0) {
        interrupted = reporter
          .listUploads()
          .filter((upload) => ids.has(upload.uploadId))
          .map((upload) => ({
            uploadId: upload.uploadId,
            localId: upload.localId,
            filename: upload.filename,
            title: upload.title,
            uri: upload.uri,
            retryCount: upload.retryCount,
            metadata: parseMetadata(upload.metadataJson),
          }));
      }
    } catch (error) {
      report(toMonitorError(error));
    }
    const monitor = new UploadMonitor(sdk, reporter, platform, options, interrupted);
    monitor.wire();
    return monitor;
  }

  private report(error: UploadMonitorError): void {
    try {
      this.options.onError?.(error);
    } catch {
      // The app's handler threw: nothing to do about it here.
    }
  }

  private wire(): void {
    const { auth } = this.options;
    // Listeners run inside supabase-js, React Native and NetInfo: they never throw into them
    // (an SDK error, a freed reporter): errors go to `onError`.
    const { subscription } = auth.onAuthStateChange((_event, session) => {
      if (this.disposed) return;
      try {
        this.reporter.setAccessToken(session?.access_token ?? undefined);
      } catch (error) {
        this.report(toMonitorError(error));
      }
    }).data;
    this.cleanups.push(() => subscription.unsubscribe());

    const { appState, netInfo, clock } = this.platform;
    if (appState) {
      const listener = appState.addEventListener('change', (state) => {
        if (state === 'background') {
          void this.flush(BACKGROUND_FLUSH_MS).catch(() => undefined);
        } else if (state === 'active') {
          void this.pollRetryRequests();
        }
      });
      this.cleanups.push(() => listener.remove());
    }
    if (netInfo) {
      const unsubscribe = netInfo.addEventListener((state) => {
        if (this.disposed) return;
        const online = state?.isConnected !== false && state?.isInternetReachable !== false;
        try {
          this.reporter.setOnline(online);
        } catch (error) {
          this.report(toMonitorError(error));
        }
      });
      this.cleanups.push(unsubscribe);
    }
    if (this.options.logger) {
      const handle = clock.setInterval(() => this.drainLogs(), LOG_DRAIN_MS);
      this.cleanups.push(() => clock.clearInterval(handle));
    }
  }

  /** Hands buffered SDK log lines to the app's logger (a logger that throws is ignored). */
  private drainLogs(): void {
    const logger = this.options.logger;
    if (!logger) return;
    for (;;) {
      let lines;
      try {
        lines = this.reporter.takeLogLines(LOG_BATCH);
      } catch {
        return;
      }
      for (const line of lines) {
        try {
          logger({
            level: this.levelNames[line.level] ?? 'info',
            message: line.message,
            at: new Date(Number(line.atMs)),
          });
        } catch {
          // The app's logger threw: the line is dropped, nothing else happens.
        }
      }
      if (lines.length < LOG_BATCH) return;
    }
  }

  /** Records a new upload (`createUploadQueueRecord`). Never throws: see `Upload.error`. */
  begin(options: BeginOptions): Upload {
    const context = {
      reporter: this.reporter,
      enums: this.sdk.enums,
      clock: this.platform.clock,
      progressIntervalMs: this.options.progressIntervalMs ?? 250,
      report: (error: UploadMonitorError) => this.report(error),
    };
    try {
      const size = options.fileSize;
      const id = this.reporter.beginUpload(
        options.localId,
        options.title,
        options.filename,
        size !== undefined && Number.isFinite(size) && size >= 0 ? BigInt(Math.floor(size)) : undefined,
        options.source === undefined ? undefined : this.sdk.enums.source[options.source],
        options.metadata === undefined ? undefined : JSON.stringify(options.metadata),
      );
      return new Upload(context, options.localId, id, undefined);
    } catch (raw) {
      const error = toMonitorError(raw);
      this.report(error);
      return new Upload(context, options.localId, undefined, error);
    }
  }

  /** Reports a new attempt of a failed upload (after an admin's retry request, say). */
  retry(uploadId: string): void {
    try {
      this.reporter.retry(uploadId);
    } catch (error) {
      throw toMonitorError(error);
    }
  }

  /**
   * Waits (at most `timeoutMs`) until everything reported is delivered.
   * Rejects with an UploadMonitorError: `offline`, `timeout` (delivery goes on), ...
   */
  async flush(timeoutMs = 10_000): Promise<void> {
    try {
      await this.reporter.flush(BigInt(Math.max(0, Math.floor(timeoutMs))));
    } catch (error) {
      throw toMonitorError(error);
    } finally {
      this.drainLogs();
    }
  }

  /** Delivery figures. */
  health(): MonitorHealth {
    let h;
    try {
      h = this.reporter.health();
    } catch (error) {
      throw toMonitorError(error);
    }
    return {
      pendingEvents: Number(h.pendingEvents),
      pendingBytes: Number(h.pendingBytes),
      oldestPendingAgeMs: num(h.oldestPendingAgeMs),
      lastError: h.lastError,
      lastSuccessAt: h.lastSuccessAtMs === undefined ? undefined : new Date(Number(h.lastSuccessAtMs)),
      deliveredEvents: Number(h.deliveredEvents),
      droppedEvents: Number(h.droppedEvents),
      refusedEvents: Number(h.refusedEvents),
      deadLetteredEvents: Number(h.deadLetteredEvents),
      quarantinedRows: Number(h.quarantinedRows),
      isolatedUploads: Number(h.isolatedUploads),
      isolatedEvents: Number(h.isolatedEvents),
      configurationProblem: h.configurationProblem,
      online: h.online,
      progressIntervalMs: Number(h.progressIntervalMs),
    };
  }

  /** The device's uploads, newest first. */
  uploads(): Array<{ uploadId: string; localId: string; status: UploadStatusName; progress: number; retryCount: number }> {
    const names: Record<number, UploadStatusName> = {};
    for (const [name, value] of Object.entries(this.sdk.enums.status)) names[value] = name as UploadStatusName;
    return this.reporter.listUploads().map((u) => ({
      uploadId: u.uploadId,
      localId: u.localId,
      status: names[u.status] ?? 'pending',
      progress: u.progress,
      retryCount: u.retryCount,
    }));
  }

  /** Calls `callback` for each new admin retry request (polled when the app becomes active). */
  onRetryRequested(callback: (request: RetryRequest) => void): () => void {
    this.retryListeners.add(callback);
    void this.pollRetryRequests();
    return () => this.retryListeners.delete(callback);
  }

  /** Asks the server for retry requests now; resolves with the new ones. */
  async pollRetryRequests(): Promise<RetryRequest[]> {
    if (this.disposed || this.retryListeners.size === 0) return [];
    let requests;
    try {
      requests = await this.reporter.pendingRetryRequests();
    } catch (error) {
      this.report(toMonitorError(error));
      return [];
    }
    const fresh = requests
      .filter((r) => !this.seenRetries.has(`${r.uploadId}@${r.requestedAt}`))
      .map((r) => ({ uploadId: r.uploadId, localId: r.localId, requestedAt: r.requestedAt, retryCount: r.retryCount }));
    for (const request of fresh) {
      this.seenRetries.add(`${request.uploadId}@${request.requestedAt}`);
      for (const listener of this.retryListeners) {
        try {
          listener(request);
        } catch (error) {
          this.report(toMonitorError(error));
        }
      }
    }
    return fresh;
  }

  /** Stops the SDK (what was reported stays stored for the next start) and unwires. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const cleanup of this.cleanups.splice(0)) {
      try {
        cleanup();
      } catch {
        // Unwiring is best effort.
      }
    }
    this.drainLogs();
    try {
      this.reporter.shutdown();
    } catch (error) {
      this.report(toMonitorError(error));
    }
    this.drainLogs();
    try {
      this.reporter.uniffiDestroy();
    } catch {
      // Already freed.
    }
  }
}

/** `<documents>/upload-monitor.sqlite`, from the platform. */
function defaultDatabasePath(platform: Platform): string {
  const directory = platform.defaultDatabaseDirectory?.();
  if (!directory) {
    throw new UploadMonitorError(
      'invalid_argument',
      'no databasePath and no documents directory found: pass one (e.g. FileSystem.documentDirectory + "upload-monitor.sqlite")',
    );
  }
  return `${directory.replace(/^file:\/\//, '').replace(/\/$/, '')}/upload-monitor.sqlite`;
}
