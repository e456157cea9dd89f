// Typed errors of the facade: every failure of the SDK arrives as an UploadMonitorError with
// a `kind` (and the broken `rule` for rejections), whatever binding flavour raised it.

/** What went wrong, as the SDK's `ReporterError` variants name it. */
export type UploadMonitorErrorKind =
  | 'rejected'
  | 'invalid_argument'
  | 'invalid_config'
  | 'queue_full'
  | 'storage'
  | 'outbox_in_use'
  | 'network'
  | 'server_configuration'
  | 'isolated'
  | 'offline'
  | 'timeout'
  | 'shut_down'
  | 'internal'
  | 'unknown';

/** The upload rule a call broke (the SDK's `RuleViolation`). */
export type UploadRule =
  | 'invalid_payload'
  | 'unknown_upload'
  | 'already_begun'
  | 'local_id_conflict'
  | 'forbidden'
  | 'terminal_state'
  | 'invalid_transition'
  | 'stage_order'
  | 'out_of_range'
  | 'retry_limit';

const RULES: readonly UploadRule[] = [
  'invalid_payload',
  'unknown_upload',
  'already_begun',
  'local_id_conflict',
  'forbidden',
  'terminal_state',
  'invalid_transition',
  'stage_order',
  'out_of_range',
  'retry_limit',
];

const KINDS: Record<string, UploadMonitorErrorKind> = {
  Rejected: 'rejected',
  InvalidArgument: 'invalid_argument',
  InvalidConfig: 'invalid_config',
  QueueFull: 'queue_full',
  Storage: 'storage',
  OutboxInUse: 'outbox_in_use',
  Network: 'network',
  ServerConfiguration: 'server_configuration',
  Isolated: 'isolated',
  Offline: 'offline',
  Timeout: 'timeout',
  ShutDown: 'shut_down',
  Internal: 'internal',
};

/** An error of the upload monitor. */
export class UploadMonitorError extends Error {
  readonly kind: UploadMonitorErrorKind;
  /** For `rejected`: the rule the call broke. */
  readonly rule: UploadRule | undefined;
  /** The SDK's own description (no token, no SQL). */
  readonly detail: string;
  /** The error as the binding raised it. */
  readonly cause: unknown;

  constructor(kind: UploadMonitorErrorKind, detail: string, rule?: UploadRule, cause?: unknown) {
    super(rule ? `${kind} (${rule}): ${detail}` : `${kind}: ${detail}`);
    this.name = 'UploadMonitorError';
    this.kind = kind;
    this.rule = rule;
    this.detail = detail;
    this.cause = cause;
  }
}

/** The shape every generated `ReporterError` has: a variant tag and its fields. */
interface TaggedError {
  tag: string;
  inner?: {
    rule?: unknown;
    detail?: unknown;
    // InvalidConfig
    field?: unknown;
    allowed?: unknown;
    got?: unknown;
    // OutboxInUse
    path?: unknown;
    // ServerConfiguration
    problem?: unknown;
    // Isolated (u64: bigint)
    uploads?: unknown;
    events?: unknown;
  };
}

function isTagged(value: unknown): value is TaggedError {
  return typeof value === 'object' && value !== null && typeof (value as TaggedError).tag === 'string';
}

/**
 * The sentence of a generated error: its `detail`, or for the variants without one, a
 * sentence made of their fields (as the Rust `Display` says it).
 */
function describe(error: TaggedError): string {
  const inner = error.inner ?? {};
  const text = (value: unknown) => (typeof value === 'string' ? value : undefined);
  const count = (value: unknown) =>
    typeof value === 'bigint' || typeof value === 'number' ? String(value) : undefined;
  switch (error.tag) {
    case 'InvalidConfig': {
      const field = text(inner.field);
      if (field === undefined) break;
      return `${field} must be ${text(inner.allowed) ?? '?'}, got ${text(inner.got) ?? '?'}`;
    }
    case 'OutboxInUse': {
      const path = text(inner.path);
      if (path === undefined) break;
      return `the outbox ${path} is in use by another reporter`;
    }
    case 'ServerConfiguration': {
      const problem = text(inner.problem);
      if (problem === undefined) break;
      return problem;
    }
    case 'Isolated': {
      const events = count(inner.events);
      const uploads = count(inner.uploads);
      if (events === undefined || uploads === undefined) break;
      return `${events} event(s) of ${uploads} upload(s) held back: the server keeps failing on them; retried on their own backoff`;
    }
  }
  return text(inner.detail) ?? error.tag;
}

/**
 * Maps anything a binding call threw to an UploadMonitorError (a generated `RuleViolation`
 * is the index of the Rust enum's variant, in RULES' order).
 */
export function toMonitorError(error: unknown): UploadMonitorError {
  if (error instanceof UploadMonitorError) return error;
  if (isTagged(error) && error.tag in KINDS) {
    const kind = KINDS[error.tag] ?? 'unknown';
    const detail = describe(error);
    const rawRule = error.inner?.rule;
    const rule = typeof rawRule === 'number' ? RULES[rawRule] : undefined;
    return new UploadMonitorError(kind, detail, rule, error);
  }
  const detail = error instanceof Error ? error.message : String(error);
  return new UploadMonitorError('unknown', detail, undefined, error);
}

/** Whether `error` is an UploadMonitorError (of `kind`, when given). */
export function isUploadMonitorError(
  error: unknown,
  kind?: UploadMonitorErrorKind,
): error is UploadMonitorError {
  return error instanceof UploadMonitorError && (kind === undefined || error.kind === kind);
}

/** Whether the call broke an upload rule (`rule`, when given). */
export function isRuleViolation(error: unknown, rule?: UploadRule): error is UploadMonitorError {
  return isUploadMonitorError(error, 'rejected') && (rule === undefined || error.rule === rule);
}

/** Whether the reporter was offline (flush while NetInfo says no network). */
export function isOffline(error: unknown): error is UploadMonitorError {
  return isUploadMonitorError(error, 'offline');
}

/** Whether a wait ran out of time (delivery goes on in the background). */
export function isTimeout(error: unknown): error is UploadMonitorError {
  return isUploadMonitorError(error, 'timeout');
}
