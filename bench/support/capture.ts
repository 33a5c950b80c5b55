/**
 * Records the statements mysql2 sends (every connection, pooled or not, goes through
 * Connection.prototype.query), so the bench can EXPLAIN exactly what the store asked.
 */
import mysql from 'mysql2';

export interface Sent {
  sql: string;
  values: unknown[];
}

type QueryFn = (this: unknown, ...args: unknown[]) => unknown;

export function captureStatements(match: RegExp): { last(): Sent | undefined; stop(): void } {
  const proto = (mysql as unknown as { Connection: { prototype: { query: QueryFn } } }).Connection.prototype;
  const original = proto.query;
  let last: Sent | undefined;
  proto.query = function (this: unknown, ...args: unknown[]) {
    const first = args[0];
    if (typeof first === 'object' && first !== null && 'sql' in first) {
      const options = first as { sql: string; values?: unknown[] };
      if (match.test(options.sql)) last = { sql: options.sql, values: options.values ?? [] };
    }
    return original.apply(this, args);
  };
  return { last: () => last, stop: () => void (proto.query = original) };
}

/** The statement with its values inlined, as the server would see it. */
export function inline(sent: Sent): string {
  return mysql.format(sent.sql, sent.values as Parameters<typeof mysql.format>[1]);
}
