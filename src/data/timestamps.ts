// The one timestamp parser: CSV time columns (ISO 8601, epoch, or a day/month pattern) and the
// event time of sensor messages (src/stream/messages.ts) read dates through the same code, so a
// time that one path accepts means the same instant on the other. Everything is UTC: a time
// without a zone is UTC (not local time, as Date.parse would assume), so results never depend on
// the host.
import { DataError } from './table.ts';

/** Decimal number text, as CSV cells and epoch timestamps are written (no hex, no Infinity). */
export const NUMBER_RE = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** Epoch ms of one cell, or undefined when the cell is not a time in the parser's format. */
export type TimestampParser = (cell: string) => number | undefined;

/** A date-time's fields as written, before any check; month and day 1-based. */
export interface DateTimeFields {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  ms: number;
}

/** Every field within its range (a leap second, 60, is allowed); says nothing about 31/02. */
export function fieldsInRange(f: DateTimeFields): boolean {
  return f.month >= 1 && f.month <= 12 && f.day >= 1 && f.day <= 31 && f.hour <= 23 && f.minute <= 59 && f.second <= 60 && f.ms <= 999;
}

/** The day exists in that month (Date.UTC would roll 31/02 over into March). */
export function isCalendarDate(f: DateTimeFields): boolean {
  return new Date(Date.UTC(f.year, f.month - 1, f.day)).getUTCDate() === f.day;
}

/** Epoch ms of fields read as UTC; undefined when a field is out of range or the date does not exist. */
export function utcMs(f: DateTimeFields): number | undefined {
  if (!fieldsInRange(f) || !isCalendarDate(f)) return undefined;
  return Date.UTC(f.year, f.month - 1, f.day, f.hour, f.minute, f.second, f.ms);
}

export interface IsoDateTime extends DateTimeFields {
  /** A time of day was written (not a bare date). */
  hasTime: boolean;
  /** The zone's offset east of UTC in minutes; undefined when the text has no zone. */
  offsetMinutes: number | undefined;
}

// Date, optional time (seconds and fraction optional; `.` or `,` before the fraction, up to
// nanoseconds), optional zone (Z or ±hh[:]mm).
const ISO_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;

/** The fields of an ISO 8601 text, or undefined when it does not have that shape (no range check). */
export function matchIso(text: string): IsoDateTime | undefined {
  const m = ISO_RE.exec(text);
  if (!m) return undefined;
  const zone = m[8];
  let offsetMinutes: number | undefined;
  if (zone !== undefined) {
    const digits = zone.slice(1).replace(':', '');
    offsetMinutes = zone.toUpperCase() === 'Z' ? 0 : (zone[0] === '-' ? -1 : 1) * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2)));
  }
  return {
    year: +m[1], month: +m[2], day: +m[3],
    hour: m[4] ? +m[4] : 0, minute: m[5] ? +m[5] : 0, second: m[6] ? +m[6] : 0,
    // Truncated to whole milliseconds.
    ms: m[7] ? Number((m[7] + '000').slice(0, 3)) : 0,
    hasTime: m[4] !== undefined,
    offsetMinutes,
  };
}

/** Epoch ms of a checked ISO date-time: its UTC fields shifted by its zone (none = UTC). */
export function isoToMs(t: IsoDateTime): number | undefined {
  const ms = utcMs(t);
  return ms === undefined ? undefined : ms - (t.offsetMinutes ?? 0) * 60_000;
}

/** ISO 8601 text -> epoch ms; a bare date is midnight, no zone means UTC. */
export const parseIso: TimestampParser = (cell) => {
  const t = matchIso(cell);
  return t === undefined ? undefined : isoToMs(t);
};

const PATTERN_TOKENS: Record<string, string> = {
  yyyy: '(\\d{4})',
  yy: '(\\d{2})',
  MM: '(\\d{1,2})',
  dd: '(\\d{1,2})',
  HH: '(\\d{1,2})',
  mm: '(\\d{1,2})',
  ss: '(\\d{1,2})',
  SSS: '(\\d{1,3})',
};

/** A parser for a pattern of yyyy yy MM dd HH mm ss SSS (UTC); other characters are literal. */
export function compilePattern(pattern: string): TimestampParser {
  const order: string[] = [];
  let re = '';
  for (let i = 0; i < pattern.length; ) {
    const token = ['yyyy', 'SSS', 'yy', 'MM', 'dd', 'HH', 'mm', 'ss'].find((tk) => pattern.startsWith(tk, i));
    if (token) {
      if (order.includes(token)) throw new DataError({ field: 'timestampFormat', reason: `token ${token} appears twice in "${pattern}"` });
      order.push(token);
      re += PATTERN_TOKENS[token];
      i += token.length;
    } else {
      re += pattern[i].replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
      i++;
    }
  }
  if (!order.includes('yyyy') && !order.includes('yy')) {
    throw new DataError({ field: 'timestampFormat', reason: `pattern "${pattern}" has no year (yyyy or yy)` });
  }
  const regex = new RegExp(`^${re}$`);
  return (cell) => {
    const m = regex.exec(cell);
    if (!m) return undefined;
    const get = (tk: string, fallback: number) => {
      const at = order.indexOf(tk);
      return at < 0 ? fallback : Number(m[at + 1]);
    };
    // Two-digit years pivot at 70, the usual POSIX convention (BATADAL's "14" is 2014).
    const yy = get('yy', -1);
    const year = order.includes('yyyy') ? get('yyyy', 0) : yy < 70 ? 2000 + yy : 1900 + yy;
    const sss = order.indexOf('SSS') >= 0 ? Number(m[order.indexOf('SSS') + 1].padEnd(3, '0')) : 0;
    return utcMs({ year, month: get('MM', 1), day: get('dd', 1), hour: get('HH', 0), minute: get('mm', 0), second: get('ss', 0), ms: sss });
  };
}

/**
 * The parser for a time column: `format` is 'iso' | 'epoch-ms' | 'epoch-s' | a pattern; without
 * one, the first cell decides (a number: epoch, its magnitude settling the unit; else ISO 8601).
 */
export function timestampParser(format: string | undefined, firstCell: string): { parse: TimestampParser; describe: string } {
  const epoch = (scale: number): TimestampParser => (cell) => (NUMBER_RE.test(cell) ? Number(cell) * scale : undefined);
  if (format === 'iso') return { parse: parseIso, describe: 'ISO 8601' };
  if (format === 'epoch-ms') return { parse: epoch(1), describe: 'epoch milliseconds' };
  if (format === 'epoch-s') return { parse: epoch(1000), describe: 'epoch seconds' };
  if (format !== undefined) return { parse: compilePattern(format), describe: `pattern "${format}"` };
  if (NUMBER_RE.test(firstCell)) {
    // 1e11 ms is 1973 while 1e11 s is the year 5138, so the magnitude settles the unit.
    return Math.abs(Number(firstCell)) >= 1e11
      ? { parse: epoch(1), describe: 'epoch milliseconds (auto)' }
      : { parse: epoch(1000), describe: 'epoch seconds (auto)' };
  }
  return { parse: parseIso, describe: 'ISO 8601 (auto)' };
}

/** The median gap between consecutive steps (null for fewer than two). */
export function medianIntervalMs(timestamps: ArrayLike<number>): number | null {
  const n = timestamps.length;
  if (n < 2) return null;
  const gaps = Array.from({ length: n - 1 }, (_, i) => timestamps[i + 1] - timestamps[i]).sort((a, b) => a - b);
  return gaps[(gaps.length - 1) >> 1];
}
