// Fakes for the facade's unit tests: a native reporter that records its calls, supabase-js's
// auth, AppState, NetInfo, AsyncStorage and a hand-driven clock.

import type { NativeReporter, NativeSdk, NativeHealth, NativeUploadInfo, NativeRetry, NativeLogLine } from '../../src/facade/native';
import type { AuthLike, Clock, Platform, SessionLike } from '../../src/facade/platform';

export type Call = [string, ...unknown[]];

export const ENUMS: NativeSdk['enums'] = {
  stage: {
    validating: 0,
    extracting_metadata: 1,
    uploading: 2,
    creating_record: 3,
    generating_thumbnails: 4,
    queuing_transcription: 5,
  },
  source: { recorded: 0, imported: 1 },
  logLevel: { debug: 0, info: 1, warn: 2, error: 3 },
  status: { pending: 0, uploading: 1, completed: 2, failed: 3 },
};

/** A generated ReporterError as the bindings throw it (tag + inner). */
export function reporterError(tag: string, inner: Record<string, unknown> = {}): Error {
  return Object.assign(new Error(tag), { tag, inner });
}

export class FakeReporter implements NativeReporter {
  calls: Call[] = [];
  accessTokens: Array<string | undefined> = [];
  uploads: NativeUploadInfo[] = [];
  recovered: string[] = [];
  retries: NativeRetry[] = [];
  logLines: NativeLogLine[] = [];
  throwOn = new Map<string, Error>();
  private next = 0;

  constructor(public readonly accessToken: string | undefined, public readonly refresher: { refreshAccessToken(): Promise<string | undefined> }) {}

  private record(name: string, ...args: unknown[]): void {
    this.calls.push([name, ...args]);
    const error = this.throwOn.get(name);
    if (error) throw error;
  }

  named(name: string): Call[] {
    return this.calls.filter((c) => c[0] === name);
  }

  beginUpload(localId: string, title: string | undefined, filename: string, fileSize: bigint | undefined, source: number | undefined, metadataJson: string | undefined): string {
    this.record('beginUpload', localId, title, filename, fileSize, source, metadataJson);
    this.next += 1;
    return `0192a7b0-0000-7000-8000-${String(this.next).padStart(12, '0')}`;
  }
  reportProgress(uploadId: string, bytesSent: bigint, bytesTotal: bigint): void {
    this.record('reportProgress', uploadId, bytesSent, bytesTotal);
  }
  reportStage(uploadId: string, stage: number): void {
    this.record('reportStage', uploadId, stage);
  }
  complete(uploadId: string, videoId: string | undefined): void {
    this.record('complete', uploadId, videoId);
  }
  fail(uploadId: string, errorCode: string, message: string, retryCount: number): void {
    this.record('fail', uploadId, errorCode, message, retryCount);
  }
  retry(uploadId: string): void {
    this.record('retry', uploadId);
  }
  async flush(timeoutMs: bigint): Promise<void> {
    this.record('flush', timeoutMs);
  }
  health(): NativeHealth {
    this.record('health');
    return {
      pendingEvents: 3n,
      pendingBytes: 1200n,
      oldestPendingAgeMs: 5000n,
      lastError: undefined,
      lastSuccessAtMs: 1_764_000_000_000n,
      droppedEvents: 0n,
      refusedEvents: 0n,
      deadLetteredEvents: 1n,
      deliveredEvents: 42n,
      duplicateEvents: 0n,
      quarantinedRows: 2n,
      isolatedUploads: 1n,
      isolatedEvents: 4n,
      configurationProblem: 'HTTP 404: report_upload_events was not found',
      requestsSent: 7n,
      coalescedProgress: 0n,
      online: true,
      progressIntervalMs: 1000n,
    };
  }
  setOnline(online: boolean): void {
    this.record('setOnline', online);
  }
  setAccessToken(accessToken: string | undefined): void {
    this.record('setAccessToken', accessToken);
    this.accessTokens.push(accessToken);
  }
  takeLogLines(max: number): NativeLogLine[] {
    return this.logLines.splice(0, max);
  }
  setLogLevel(level: number): void {
    this.record('setLogLevel', level);
  }
  shutdown(): void {
    this.record('shutdown');
  }
  listUploads(): NativeUploadInfo[] {
    return this.uploads;
  }
  recoverAfterRestart(): string[] {
    this.record('recoverAfterRestart');
    return this.recovered;
  }
  importAsyncStorage(pendingVideosJson: string | undefined, importQueueStateJson: string | undefined) {
    this.record('importAsyncStorage', pendingVideosJson, importQueueStateJson);
    return { created: 1, updated: 0, unchanged: 0, skipped: [] };
  }
  async pendingRetryRequests(): Promise<NativeRetry[]> {
    this.record('pendingRetryRequests');
    return this.retries;
  }
  uniffiDestroy(): void {
    this.record('uniffiDestroy');
  }
}

export class FakeSdk implements NativeSdk {
  enums = ENUMS;
  reporters: FakeReporter[] = [];
  configs: unknown[] = [];
  prepare?: (reporter: FakeReporter) => void;
  createReporter(config: unknown, accessToken: string | undefined, refresher: { refreshAccessToken(): Promise<string | undefined> }): FakeReporter {
    this.configs.push(config);
    const reporter = new FakeReporter(accessToken, refresher);
    this.prepare?.(reporter);
    this.reporters.push(reporter);
    return reporter;
  }
  get reporter(): FakeReporter {
    const last = this.reporters[this.reporters.length - 1];
    if (!last) throw new Error('no reporter yet');
    return last;
  }
}

export class FakeAuth implements AuthLike {
  listeners: Array<(event: string, session: SessionLike | null) => void> = [];
  unsubscribed = 0;
  refreshes = 0;
  constructor(public session: SessionLike | null, public refreshed: SessionLike | null = null) {}
  async getSession() {
    return { data: { session: this.session } };
  }
  async refreshSession() {
    this.refreshes += 1;
    if (this.refreshed === null) throw new Error('refresh failed: offline');
    return { data: { session: this.refreshed }, error: null };
  }
  onAuthStateChange(callback: (event: string, session: SessionLike | null) => void) {
    this.listeners.push(callback);
    return { data: { subscription: { unsubscribe: () => { this.unsubscribed += 1; } } } };
  }
  emit(event: string, session: SessionLike | null): void {
    for (const listener of this.listeners) listener(event, session);
  }
}

export class ManualClock implements Clock {
  time = 1_000_000;
  intervals = new Map<number, { callback: () => void; ms: number }>();
  private nextHandle = 1;
  now(): number {
    return this.time;
  }
  setInterval(callback: () => void, ms: number): unknown {
    const handle = this.nextHandle++;
    this.intervals.set(handle, { callback, ms });
    return handle;
  }
  clearInterval(handle: unknown): void {
    this.intervals.delete(handle as number);
  }
  advance(ms: number): void {
    this.time += ms;
  }
  fireIntervals(): void {
    for (const { callback } of [...this.intervals.values()]) callback();
  }
}

export function fakePlatform(overrides: Partial<Platform> = {}) {
  const appStateListeners: Array<(state: string) => void> = [];
  const netListeners: Array<(state: { isConnected: boolean | null; isInternetReachable?: boolean | null }) => void> = [];
  const storage = new Map<string, string>();
  const clock = new ManualClock();
  const platform: Platform = {
    clock,
    storage: { getItem: async (key) => storage.get(key) ?? null },
    appState: {
      currentState: 'active',
      addEventListener: (_type, listener) => {
        appStateListeners.push(listener);
        return { remove: () => appStateListeners.splice(appStateListeners.indexOf(listener), 1) };
      },
    },
    netInfo: {
      addEventListener: (listener) => {
        netListeners.push(listener);
        return () => netListeners.splice(netListeners.indexOf(listener), 1);
      },
    },
    defaultDatabaseDirectory: () => 'file:///data/user/0/app/files/',
    ...overrides,
  };
  return {
    platform,
    clock,
    storage,
    appState: (state: string) => appStateListeners.forEach((l) => l(state)),
    netInfo: (isConnected: boolean | null, isInternetReachable?: boolean | null) =>
      netListeners.forEach((l) => l({ isConnected, isInternetReachable })),
    listenerCounts: () => ({ appState: appStateListeners.length, netInfo: netListeners.length }),
  };
}

export const tick = () => new Promise((resolve) => setImmediate(resolve));
