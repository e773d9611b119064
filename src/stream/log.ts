// `ganf serve`'s operational log: pino JSON lines on stderr with levels (GANF_LOG_LEVEL, default
// info), so a log shipper can parse them; the human messages stay in `msg`.
import pino, { type Logger } from 'pino';

export function serveLogger(level = process.env.GANF_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name: 'ganf-serve', level, base: { pid: process.pid } }, pino.destination({ fd: 2, sync: true }));
}
