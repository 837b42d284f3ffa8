import { pino, type Logger, type LevelWithSilent } from 'pino';

/** Paths pino blanks wherever they appear in a log line: credentials never reach the logs. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers["x-konsul-token"]',
  'req.headers["x-consul-token"]',
  'headers.authorization',
  'headers["x-konsul-token"]',
  'headers["x-consul-token"]',
  'config.auth.token',
  'auth.token',
  'token',
];

/** JSON lines by default; readable lines only when a person is watching a terminal. */
export function createLogger(level: LevelWithSilent, destination?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
  };
  if (destination !== undefined) return pino(options, destination);
  if (process.stdout.isTTY === true) {
    return pino({
      ...options,
      transport: { target: 'pino-pretty', options: { translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' } },
    });
  }
  return pino(options);
}
