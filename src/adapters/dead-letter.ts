/**
 * Dead-letter records, in Kafka Connect's convention: the record's key and value are the original
 * ones, byte for byte (so a fixed message can be re-produced as is), and the error and the source
 * coordinates travel in headers. A dead letter must itself always be producible, or the partition
 * that produced it would stall: so it is cut to fit the dead-letter topic's size limit
 * (`ganf.dlq.truncated` then gives the original value's size) and a null value stays null.
 */
import type { IncomingMessage, OutgoingMessage } from './kafka-client.ts';

export const DLQ_HEADERS = {
  error: 'ganf.dlq.error',
  kind: 'ganf.dlq.kind',
  topic: 'ganf.dlq.topic',
  partition: 'ganf.dlq.partition',
  offset: 'ganf.dlq.offset',
  timestamp: 'ganf.dlq.timestamp',
  /** Present when the value was cut to fit: the original value's size in bytes. */
  truncated: 'ganf.dlq.truncated',
  /** Present when the original headers were left out to fit: how many there were. */
  headersDropped: 'ganf.dlq.headers-dropped',
} as const;

/** Kafka's default max.message.bytes (1 MiB + 12) less room for the record batch framing. */
export const DEFAULT_DEAD_LETTER_MAX_BYTES = 1_000_000;
/** Bytes reserved per record for Kafka's framing (lengths, attributes, offsets, batch header). */
const RECORD_OVERHEAD = 128;
const ERROR_MAX_CHARS = 2000;

const headerBytes = (h: Record<string, string>): number => Object.entries(h).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v) + 8, 0);

/** Bytes a record takes on the wire (near enough to budget batches and limits). */
export function recordBytes(m: OutgoingMessage): number {
  const value = m.value === null ? 0 : typeof m.value === 'string' ? Buffer.byteLength(m.value) : m.value.length;
  return RECORD_OVERHEAD + (m.key === undefined ? 0 : Buffer.byteLength(m.key)) + value + headerBytes(m.headers ?? {});
}

/** The longest prefix of `s` of at most `maxBytes` UTF-8 bytes that does not split a character. */
function utf8Prefix(s: string, maxBytes: number): string {
  const b = Buffer.from(s, 'utf8');
  if (b.length <= maxBytes) return s;
  let end = maxBytes;
  while (end > 0 && (b[end] & 0xc0) === 0x80) end--; // back to a character start
  return b.subarray(0, end).toString('utf8');
}

export function deadLetterRecord(message: IncomingMessage, kind: string, error: string, maxBytes = DEFAULT_DEAD_LETTER_MAX_BYTES): OutgoingMessage {
  const value = message.rawValue !== undefined ? message.rawValue : message.value === null ? null : Buffer.from(message.value, 'utf8');
  const ours: Record<string, string> = {
    [DLQ_HEADERS.error]: error.slice(0, ERROR_MAX_CHARS),
    [DLQ_HEADERS.kind]: kind,
    [DLQ_HEADERS.topic]: message.topic,
    [DLQ_HEADERS.partition]: String(message.partition),
    [DLQ_HEADERS.offset]: message.offset,
    [DLQ_HEADERS.timestamp]: String(message.timestampMs),
  };
  // The original key and headers are kept while they leave room for our headers and a useful
  // share of the value; a hostile producer can make them as large as the value.
  const budget = maxBytes - RECORD_OVERHEAD - headerBytes(ours) - 64;
  const key = message.key === null ? undefined : utf8Prefix(message.key, Math.floor(budget / 4));
  const original = headerBytes(message.headers) <= budget / 4 ? message.headers : {};
  const headers: Record<string, string> = { ...original, ...ours };
  if (original !== message.headers) headers[DLQ_HEADERS.headersDropped] = String(Object.keys(message.headers).length);
  const room = budget - (key === undefined ? 0 : Buffer.byteLength(key)) - headerBytes(original);
  if (value !== null && value.length > room) {
    headers[DLQ_HEADERS.truncated] = String(value.length);
    return { key, value: value.subarray(0, Math.max(0, room)), headers };
  }
  return { key, value, headers };
}

export interface DeadLetter {
  key: string | null;
  payload: string | null;
  error: string;
  kind: string;
  /** The original value's size when the payload was cut to fit the topic's limit. */
  truncatedFrom: number | null;
  source: { topic: string; partition: number; offset: string; timestampMs: number };
}

/** Reads a dead-letter record back (e.g. to inspect or re-drive it). */
export function parseDeadLetter(m: IncomingMessage): DeadLetter {
  const h = m.headers;
  if (!h[DLQ_HEADERS.topic]) throw new Error(`record ${m.topic}/${m.partition}@${m.offset} is not a dead letter (no ${DLQ_HEADERS.topic} header)`);
  return {
    key: m.key,
    payload: m.value,
    error: h[DLQ_HEADERS.error] ?? '',
    kind: h[DLQ_HEADERS.kind] ?? '',
    truncatedFrom: h[DLQ_HEADERS.truncated] === undefined ? null : Number(h[DLQ_HEADERS.truncated]),
    source: { topic: h[DLQ_HEADERS.topic], partition: Number(h[DLQ_HEADERS.partition]), offset: h[DLQ_HEADERS.offset], timestampMs: Number(h[DLQ_HEADERS.timestamp]) },
  };
}

/**
 * Splits records into groups of at most `maxBytes` each (a record larger than that goes alone):
 * one send per group keeps every produce request's record batch under the broker's limit, which
 * 12,000 small dead letters in one batch would otherwise exceed.
 */
export function chunkByBytes(messages: OutgoingMessage[], maxBytes: number): OutgoingMessage[][] {
  const out: OutgoingMessage[][] = [];
  let cur: OutgoingMessage[] = [];
  let size = 0;
  for (const m of messages) {
    const b = recordBytes(m);
    if (cur.length && size + b > maxBytes) {
      out.push(cur);
      cur = [];
      size = 0;
    }
    cur.push(m);
    size += b;
  }
  if (cur.length) out.push(cur);
  return out;
}
