/** The closed set of failure kinds; metrics label `error_type` uses the same words. */
export type ErrorKind =
  | 'config'
  | 'db_connection'
  | 'db_query'
  | 'command_failed'
  | 'command_timeout'
  | 'validation'
  | 'render'
  | 'apply'
  | 'verify'
  | 'io'
  | 'path_escape'
  | 'lock_held';

export const ERROR_KINDS: readonly ErrorKind[] = [
  'config',
  'db_connection',
  'db_query',
  'command_failed',
  'command_timeout',
  'validation',
  'render',
  'apply',
  'verify',
  'io',
  'path_escape',
  'lock_held',
];

const RETRYABLE: ReadonlySet<ErrorKind> = new Set([
  'db_connection',
  'db_query',
  'command_failed',
  'command_timeout',
  'apply',
  'verify',
  'io',
]);

/** The one error type of the agent: a closed kind, never a message to branch on. */
export class AgentError extends Error {
  readonly kind: ErrorKind;
  readonly retryable: boolean;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(kind: ErrorKind, message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'AgentError';
    this.kind = kind;
    this.retryable = RETRYABLE.has(kind);
    this.details = details;
  }
}

/** Wraps anything thrown into an AgentError of the given kind, keeping an AgentError as it is. */
export function asAgentError(err: unknown, kind: ErrorKind, message: string): AgentError {
  if (err instanceof AgentError) return err;
  const text = err instanceof Error ? err.message : String(err);
  return new AgentError(kind, `${message}: ${text}`, {}, err);
}
