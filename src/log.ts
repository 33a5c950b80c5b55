import pino, { type DestinationStream, type Logger } from 'pino';

/**
 * SPEC §8 logs: one JSON object per line, `level` as a word, ISO-8601 `time`, a fixed `msg` plus fields.
 * Anything that could carry the password is redacted.
 */
export function createLogger(
  level: string,
  destination: DestinationStream = pino.destination({ fd: 1, sync: true }),
): Logger {
  return pino(
    {
      level,
      base: undefined,
      messageKey: 'msg',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: ['password', '*.password', 'db.password', 'DB_PASSWORD'], censor: '[redacted]' },
    },
    destination,
  );
}
