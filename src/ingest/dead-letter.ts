/**
 * Dead-letter records, in Kafka Connect's convention: the record's key and value are the original
 * ones, byte for byte (so a fixed message can be re-produced as is), and the error and the source
 * coordinates travel in headers.
 */
import type { IncomingMessage, OutgoingMessage } from './kafka-client.ts';

export const DLQ_HEADERS = {
  error: 'ganf.dlq.error',
  kind: 'ganf.dlq.kind',
  topic: 'ganf.dlq.topic',
  partition: 'ganf.dlq.partition',
  offset: 'ganf.dlq.offset',
  timestamp: 'ganf.dlq.timestamp',
} as const;

export function deadLetterRecord(message: IncomingMessage, kind: string, error: string): OutgoingMessage {
  const value = message.rawValue ?? Buffer.from(message.value ?? '', 'utf8');
  return {
    key: message.key ?? undefined,
    value,
    headers: {
      ...message.headers,
      [DLQ_HEADERS.error]: error.slice(0, 2000),
      [DLQ_HEADERS.kind]: kind,
      [DLQ_HEADERS.topic]: message.topic,
      [DLQ_HEADERS.partition]: String(message.partition),
      [DLQ_HEADERS.offset]: message.offset,
      [DLQ_HEADERS.timestamp]: String(message.timestampMs),
    },
  };
}

export interface DeadLetter {
  key: string | null;
  payload: string | null;
  error: string;
  kind: string;
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
    source: { topic: h[DLQ_HEADERS.topic], partition: Number(h[DLQ_HEADERS.partition]), offset: h[DLQ_HEADERS.offset], timestampMs: Number(h[DLQ_HEADERS.timestamp]) },
  };
}
