/**
 * The sensor-message contract of the input topic, validated with zod.
 *
 * Two shapes, both JSON objects:
 *  - a reading:  { "site": "s1", "sensor": "B05", "ts": 1704067200000, "value": 1.25 }
 *                (optional "feature" for models with D > 1 features per sensor)
 *  - a snapshot: { "site": "s1", "ts": "2024-01-01T00:00:00Z", "values": { "B05": 1.25, "B06": -0.5 } }
 *                (D > 1: { "bus4": { "vm": 1.01, "va": -3.2 } })
 * `ts` is the event time: epoch milliseconds or an ISO 8601 string with a zone (Z or ±hh:mm).
 * Messages are keyed by site (see messageKey) so one site's readings stay ordered on one
 * partition and one consumer owns its state.
 *
 * parseSensorMessage never throws: bad input comes back as a RejectedMessage naming the kind
 * of error, for the dead-letter topic.
 */
import { z } from 'zod';
import { fieldsInRange, isCalendarDate, isoToMs, matchIso } from '../data/timestamps.ts';

export interface Reading {
  site: string;
  sensor: string;
  /** Feature name for D > 1 models; undefined = the model's only feature. */
  feature?: string;
  tsMs: number;
  value: number;
}

/** Why a message was dead-lettered: by the contract check here, or by the stream processor. */
export type RejectKind =
  | 'empty' | 'malformed-json' | 'schema' | 'non-finite' | 'bad-timestamp' | 'future-timestamp'
  // stream processor (src/stream/processor.ts, event-time-guard.ts):
  | 'key-mismatch' | 'ahead-of-site' | 'unknown-sensor-limit' | 'site-limit' | 'non-finite-score' | 'processing-error';

export interface RejectedMessage {
  ok: false;
  kind: RejectKind;
  error: string;
}

export interface AcceptedMessage {
  ok: true;
  site: string;
  /** The message's event time (every reading has it). */
  tsMs: number;
  /** One reading per (sensor, feature) the message carries. */
  readings: Reading[];
}

export interface ParseOptions {
  /**
   * The reference time for the future check, ms: the Kafka record's timestamp (stored in the log
   * with the record), so a replay decides exactly as the first run did whenever it happens; a
   * value <= 0 (no record timestamp) skips the check.
   */
  nowMs: number;
  /** A timestamp more than this far ahead of nowMs is rejected (clock error or unit mix-up). */
  maxFutureMs: number;
}

/**
 * Event times we accept: InfluxDB 1.x stores int64 nanoseconds (1677-09-21T00:12:43Z ..
 * 2262-04-11T23:47:16Z); one day of margin on each side keeps a step's grid time (the reading's
 * time rounded to the sampling interval) inside that range too. Also well inside what a JS Date
 * can represent (±8.64e15 ms), so every accepted time can be formatted.
 */
export const MIN_EVENT_MS = -9_223_372_036_854 + 86_400_000;
export const MAX_EVENT_MS = 9_223_372_036_854 - 86_400_000;
const RANGE_TEXT = '1677-09-22T00:00:00Z .. 2262-04-10T23:00:00Z (InfluxDB\'s time range)';

// Names become InfluxDB tag values and Kafka keys: no control characters, no trailing backslash.
const Name = z.string().min(1).max(256)
  // eslint-disable-next-line no-control-regex -- rejecting control characters is the point
  .refine((v) => !/[\u0000-\u001f\u007f]/.test(v), 'must not contain control characters')
  .refine((v) => !v.endsWith('\\'), 'must not end with a backslash');
// Values are checked for finiteness by hand (JSON.parse turns 1e999 into Infinity) so that error
// gets its own kind (zod's z.number() would reject it as a plain type error).
const Num = z.custom<number>((v) => typeof v === 'number', { message: 'expected a number' });
const Timestamp = z.union([z.number(), z.string().min(1).max(64)]);

export const ReadingMessageSchema = z.strictObject({
  site: Name,
  sensor: Name,
  feature: Name.optional(),
  ts: Timestamp,
  value: Num,
});

export const SnapshotMessageSchema = z.strictObject({
  site: Name,
  ts: Timestamp,
  values: z.record(Name, z.union([Num, z.record(Name, Num)])).refine((v) => Object.keys(v).length > 0, 'values must not be empty'),
});

export type ReadingMessage = z.infer<typeof ReadingMessageSchema>;
export type SnapshotMessage = z.infer<typeof SnapshotMessageSchema>;

/** Epoch ms from a contract timestamp, or an error string. */
export function parseTimestamp(ts: number | string): number | string {
  if (typeof ts === 'number') {
    if (!Number.isFinite(ts)) return `timestamp ${ts} is not finite`;
    if (ts < 0) return `timestamp ${ts} is negative`;
    if (ts > MAX_EVENT_MS) return `timestamp ${ts} (epoch ms) is outside ${RANGE_TEXT}`;
    return Math.floor(ts);
  }
  // The project's ISO 8601 parser (src/data/timestamps.ts); the contract also wants a time of day
  // and an explicit zone, since a producer's local time cannot be guessed.
  const t = matchIso(ts.trim());
  if (!t || !t.hasTime || t.offsetMinutes === undefined) {
    return `timestamp "${ts}" is not epoch milliseconds or ISO 8601 with a zone (e.g. 2024-01-01T00:05:00Z)`;
  }
  if (!fieldsInRange(t)) return `timestamp "${ts}" has a field out of range`;
  // Checked on the year itself first: Date.UTC maps years 0..99 to 1900..1999.
  if (t.year < 1677 || t.year > 2262) return `timestamp "${ts}" is outside ${RANGE_TEXT}`;
  if (!isCalendarDate(t)) return `timestamp "${ts}" is not a calendar date`;
  const ms = isoToMs(t)!;
  if (!(ms >= MIN_EVENT_MS && ms <= MAX_EVENT_MS)) return `timestamp "${ts}" is outside ${RANGE_TEXT}`;
  return ms;
}

/** ISO text of a time that may be outside what a Date can format (a producer's record timestamp). */
function isoOr(ms: number): string {
  return Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : `${ms} ms`;
}

function reject(kind: RejectKind, error: string): RejectedMessage {
  return { ok: false, kind, error };
}

function schemaError(err: z.ZodError): string {
  return err.issues
    .slice(0, 5)
    .map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`)
    .join('; ');
}

/** Validates one message value (the UTF-8 text of a Kafka record). */
export function parseSensorMessage(text: string | null, opts: ParseOptions): AcceptedMessage | RejectedMessage {
  if (text === null || text.length === 0) return reject('empty', 'empty message (no value)');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    return reject('malformed-json', `malformed JSON: ${(err as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return reject('schema', 'expected a JSON object (a reading or a snapshot)');
  }
  const isSnapshot = 'values' in json;
  const parsed = isSnapshot ? SnapshotMessageSchema.safeParse(json) : ReadingMessageSchema.safeParse(json);
  if (!parsed.success) {
    return reject('schema', `${isSnapshot ? 'snapshot' : 'reading'}: ${schemaError(parsed.error)}`);
  }
  const msg = parsed.data;
  const tsMs = parseTimestamp(msg.ts);
  if (typeof tsMs === 'string') return reject('bad-timestamp', tsMs);
  if (opts.nowMs > 0 && tsMs > opts.nowMs + opts.maxFutureMs) {
    return reject('future-timestamp', `timestamp ${new Date(tsMs).toISOString()} is more than ${opts.maxFutureMs} ms ahead of the record's timestamp (${isoOr(opts.nowMs)})`);
  }
  const readings: Reading[] = [];
  if ('values' in msg) {
    for (const [sensor, v] of Object.entries(msg.values)) {
      if (typeof v === 'number') {
        if (!Number.isFinite(v)) return reject('non-finite', `values.${sensor} is ${v}; values must be finite numbers`);
        readings.push({ site: msg.site, sensor, tsMs, value: v });
      } else {
        for (const [feature, fv] of Object.entries(v)) {
          if (!Number.isFinite(fv)) return reject('non-finite', `values.${sensor}.${feature} is ${fv}; values must be finite numbers`);
          readings.push({ site: msg.site, sensor, feature, tsMs, value: fv });
        }
      }
    }
  } else {
    if (!Number.isFinite(msg.value)) return reject('non-finite', `value is ${msg.value}; values must be finite numbers`);
    readings.push({ site: msg.site, sensor: msg.sensor, feature: msg.feature, tsMs, value: msg.value });
  }
  return { ok: true, site: msg.site, tsMs, readings };
}

/** The record key: the site, so a site's readings keep their order on one partition. */
export function messageKey(site: string): string {
  return site;
}

export function encodeReading(r: { site: string; sensor: string; feature?: string; tsMs: number; value: number }): string {
  return JSON.stringify(r.feature === undefined
    ? { site: r.site, sensor: r.sensor, ts: r.tsMs, value: r.value }
    : { site: r.site, sensor: r.sensor, feature: r.feature, ts: r.tsMs, value: r.value });
}

export function encodeSnapshot(site: string, tsMs: number, values: Record<string, number | Record<string, number>>): string {
  return JSON.stringify({ site, ts: tsMs, values });
}
