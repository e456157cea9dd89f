// One upload as VideoUploader reports it: numbers in, nothing thrown out. Progress is
// throttled here (one native call per `progressIntervalMs` per upload, plus the last byte);
// the SDK coalesces and rate-limits again behind it.

import { toMonitorError, type UploadMonitorError } from './errors';
import type { Clock } from './platform';
import type { NativeEnums, NativeReporter, UploadStageName } from './native';

/** What `expo-file-system`'s upload progress callback receives. */
export interface UploadProgressData {
  totalBytesSent: number;
  totalBytesExpectedToSend: number;
}

/** What `FileSystem.createUploadTask(...)` returns (the part `track` uses). */
export interface UploadTaskLike {
  uploadAsync(): Promise<{ status: number; body?: string } | undefined | null>;
}

/** Options of `fail`. */
export interface FailOptions {
  /** Attempts used so far, 0-3 ("Tentative n/3"). */
  retryCount: number;
  /** A machine-readable cause; derived from the error when absent. */
  code?: string;
}

/** Internals an Upload shares with its monitor. */
export interface UploadContext {
  reporter: NativeReporter;
  enums: NativeEnums;
  clock: Clock;
  progressIntervalMs: number;
  report(error: UploadMonitorError): void;
}

function bytes(value: number): bigint {
  return Number.isFinite(value) && value > 0 ? BigInt(Math.floor(value)) : 0n;
}

/** A short machine-readable code for an upload error (the dashboard groups by it). */
export function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(code)) return code.toLowerCase();
  const text = error instanceof Error ? error.message : String(error);
  if (/timed? ?out|timeout/i.test(text)) return 'timeout';
  if (/network|offline|connection|fetch|socket|ECONN|ENOTFOUND/i.test(text)) return 'network';
  if (/40[13]|unauthori[sz]ed|forbidden|jwt/i.test(text)) return 'auth';
  if (/storage|bucket|413|too large|quota/i.test(text)) return 'storage';
  return 'upload_failed';
}

function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message || error.name;
  if (typeof error === 'string') return error;
  try {
    return JSON.stringify(error) ?? String(error);
  } catch {
    return String(error);
  }
}

/** An upload begun with `monitor.begin(...)`. */
export class Upload {
  /** The SDK's upload id (UUIDv7), or undefined when `begin` failed (see `error`). */
  readonly id: string | undefined;
  /** The app's queue id. */
  readonly localId: string;
  /** Why `begin` failed, if it did; every other call is then a no-op. */
  readonly error: UploadMonitorError | undefined;

  private lastSent = 0;
  private lastTotal = 0;
  private lastForwardedAt = Number.NEGATIVE_INFINITY;
  private held = false;
  private ended = false;

  /** @internal */
  constructor(
    private readonly context: UploadContext,
    localId: string,
    id: string | undefined,
    error: UploadMonitorError | undefined,
  ) {
    this.localId = localId;
    this.id = id;
    this.error = error;
  }

  /** For `createUploadTask(url, uri, options, up.onUploadProgress)`. */
  readonly onUploadProgress = (data: UploadProgressData): void => {
    this.progress(data.totalBytesSent, data.totalBytesExpectedToSend);
  };

  private call(action: (reporter: NativeReporter, id: string) => void): boolean {
    if (this.id === undefined) return false;
    try {
      action(this.context.reporter, this.id);
      return true;
    } catch (error) {
      this.context.report(toMonitorError(error));
      return false;
    }
  }

  /** Bytes sent so far; call it from every progress callback. Never throws. */
  progress(sent: number, total: number): void {
    if (this.ended || !(total > 0)) return;
    this.lastSent = Math.min(Math.max(sent, 0), total);
    this.lastTotal = total;
    const now = this.context.clock.now();
    const last = this.lastSent >= total;
    if (!last && now - this.lastForwardedAt < this.context.progressIntervalMs) {
      this.held = true;
      return;
    }
    this.forward(now);
  }

  private forward(now: number): void {
    this.held = false;
    this.lastForwardedAt = now;
    const sent = bytes(this.lastSent);
    const total = bytes(this.lastTotal);
    this.call((reporter, id) => reporter.reportProgress(id, sent, total));
  }

  /** Progress held back by the throttle goes out before any other report. */
  private release(): void {
    if (this.held) this.forward(this.context.clock.now());
  }

  /** The pipeline step now running. Never throws. */
  stage(stage: UploadStageName): void {
    if (this.ended) return;
    this.release();
    const value = this.context.enums.stage[stage];
    if (value === undefined) return;
    this.call((reporter, id) => reporter.reportStage(id, value));
  }

  /** Success (`completeUploadQueue`), with the `videos` row's id when there is one. */
  complete(videoId?: string): void {
    if (this.ended) return;
    this.release();
    if (this.call((reporter, id) => reporter.complete(id, videoId))) this.ended = true;
  }

  /** A failed attempt (`failUploadQueue`). Never throws. */
  fail(error: unknown, options: FailOptions): void {
    if (this.ended) return;
    this.release();
    const retryCount = Math.max(0, Math.min(3, Math.floor(options.retryCount) || 0));
    const code = options.code ?? errorCode(error);
    if (this.call((reporter, id) => reporter.fail(id, code, errorMessage(error), retryCount))) {
      this.ended = true;
    }
  }

  /**
   * Runs an `expo-file-system` upload task (made with `onUploadProgress` as its callback):
   * reports the `uploading` stage, and a failure (then rethrows) when it throws or answers
   * a non-2xx status. The app completes the upload once its `videos` row exists.
   */
  async track<R extends { status: number; body?: string }>(
    task: { uploadAsync(): Promise<R | undefined | null> },
    options: { retryCount?: number } = {},
  ): Promise<R> {
    this.stage('uploading');
    const retryCount = options.retryCount ?? 0;
    let result: R | undefined | null;
    try {
      result = await task.uploadAsync();
    } catch (error) {
      this.fail(error, { retryCount });
      throw error;
    }
    if (!result) {
      const cancelled = new Error('upload cancelled');
      this.fail(cancelled, { retryCount, code: 'cancelled' });
      throw cancelled;
    }
    if (result.status < 200 || result.status >= 300) {
      const refused = new Error(`upload answered HTTP ${result.status}`);
      this.fail(refused, { retryCount, code: `http_${result.status}` });
      throw refused;
    }
    if (this.lastTotal > 0) this.progress(this.lastTotal, this.lastTotal);
    return result;
  }
}
