/**
 * A CSV (e.g. a fixture's test part) as a stream of sensor messages, at a chosen rate: the source
 * of `ganf replay`, of the in-process mode, of the end-to-end tests and of the benchmark.
 */
import type { SeriesTable } from '../data/table.ts';
import { encodeReading, encodeSnapshot, messageKey } from './messages.ts';
import type { MessageProducer, OutgoingMessage } from '../adapters/kafka-client.ts';
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../adapters/fs-atomic.ts';

export interface ReplayOptions {
  site: string;
  /** 'reading': one message per sensor and step; 'snapshot': one message per step. */
  format: 'reading' | 'snapshot';
  /** Event time per wall-clock time (1 = real time, 60 = a minute per second); 0 = as fast as possible. */
  speed?: number;
  /** Readings per second (overrides speed). */
  rate?: number;
  /** Shift timestamps so the first row is at this time (e.g. Date.now() for live-looking data). */
  startAtMs?: number;
  /** Only these sensors (default: every sensor of the table). */
  sensors?: readonly string[];
  /** Messages per send at most (default 500). */
  batch?: number;
  /** Paced mode: rows due within this many ms are sent together (default 20). */
  sliceMs?: number;
  /** Start at this row (resume after an interruption); pacing starts from it. */
  fromRow?: number;
  signal?: AbortSignal;
}

/** The messages of step t. */
export function stepMessages(table: SeriesTable, t: number, o: Pick<ReplayOptions, 'site' | 'format' | 'startAtMs' | 'sensors'>): OutgoingMessage[] {
  const K = table.sensors.length;
  const D = table.features.length;
  const shift = o.startAtMs === undefined ? 0 : o.startAtMs - table.timestamps[0];
  const tsMs = table.timestamps[t] + shift;
  const key = messageKey(o.site);
  const only = o.sensors ? new Set(o.sensors) : null;
  const out: OutgoingMessage[] = [];
  const values: Record<string, number | Record<string, number>> = {};
  for (let k = 0; k < K; k++) {
    const sensor = table.sensors[k];
    if (only && !only.has(sensor)) continue;
    for (let d = 0; d < D; d++) {
      const v = table.values[(t * K + k) * D + d];
      if (Number.isNaN(v)) continue; // a missing cell is simply not sent
      const feature = D === 1 ? undefined : table.features[d];
      if (o.format === 'reading') out.push({ key, value: encodeReading({ site: o.site, sensor, feature, tsMs, value: v }) });
      else if (feature === undefined) values[sensor] = v;
      else ((values[sensor] ??= {}) as Record<string, number>)[feature] = v;
    }
  }
  if (o.format === 'snapshot' && Object.keys(values).length) out.push({ key, value: encodeSnapshot(o.site, tsMs, values) });
  return out;
}

/** Rows per second of wall-clock time for a speed or a rate. */
export function rowsPerSecond(table: SeriesTable, o: Pick<ReplayOptions, 'speed' | 'rate' | 'sensors'>): number {
  const n = table.timestamps.length;
  const readingsPerRow = (o.sensors?.length ?? table.sensors.length) * table.features.length;
  if (o.rate) return o.rate / readingsPerRow;
  if (!o.speed) return Infinity;
  const interval = n > 1 ? (table.timestamps[n - 1] - table.timestamps[0]) / (n - 1) : 1000;
  return (o.speed * 1000) / interval;
}

export interface ReplayResult {
  rows: number;
  messages: number;
  seconds: number;
}

/** Sends the table row by row, paced by wall-clock time. */
export async function replayTable(
  table: SeriesTable, send: (messages: OutgoingMessage[]) => Promise<void>, o: ReplayOptions, onProgress?: (row: number, messages: number) => void | Promise<void>,
): Promise<ReplayResult> {
  const rps = rowsPerSecond(table, o);
  const batch = o.batch ?? 500;
  const slice = o.sliceMs ?? 20;
  const started = performance.now();
  let buffer: OutgoingMessage[] = [];
  let sent = 0;
  const n = table.timestamps.length;
  const from = o.fromRow ?? 0;
  if (!(Number.isInteger(from) && from >= 0 && from <= n)) throw new Error(`fromRow must be a row number in 0..${n}, got ${from}`);
  for (let t = from; t < n; t++) {
    if (o.signal?.aborted) break;
    buffer.push(...stepMessages(table, t, o));
    const due = Number.isFinite(rps) ? started + ((t + 1 - from) / rps) * 1000 : 0;
    // Send when the batch is full, or (paced) when the next row is due more than a slice from now.
    if (buffer.length >= batch || t === n - 1 || (Number.isFinite(rps) && due - performance.now() > slice)) {
      await send(buffer);
      sent += buffer.length;
      buffer = [];
      await onProgress?.(t + 1, sent);
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    }
  }
  return { rows: n - from, messages: sent, seconds: (performance.now() - started) / 1000 };
}

export interface RetryingSendOptions {
  /** Give up after the broker has been unreachable this long (ms). */
  retryForMs: number;
  log?: (msg: string) => void;
  signal?: AbortSignal;
}

/**
 * A send that survives a broker outage: a failed send is retried (doubling pause, at most 5 s)
 * on a fresh producer until it succeeds or the broker has been unreachable for `retryForMs`.
 * A batch the broker partly took before failing is sent again in full, so an outage can
 * duplicate a few messages; the stream processor counts repeated readings as duplicates or
 * replaces them by the same value, so the scores do not change.
 */
export function retryingSend(connect: () => Promise<MessageProducer>, topic: string, o: RetryingSendOptions): { send: (messages: OutgoingMessage[]) => Promise<void>; close: () => Promise<void> } {
  let producer: MessageProducer | null = null;
  const drop = async () => {
    const p = producer;
    producer = null;
    await p?.close().catch(() => {});
  };
  return {
    async send(messages) {
      const since = Date.now();
      for (let attempt = 1; ; attempt++) {
        try {
          producer ??= await connect();
          await producer.send(topic, messages);
          if (attempt > 1) o.log?.(`broker reachable again after ${((Date.now() - since) / 1000).toFixed(1)} s; continuing`);
          return;
        } catch (err) {
          await drop();
          if (o.signal?.aborted || Date.now() - since >= o.retryForMs) throw err;
          const pause = Math.min(5000, 250 * 2 ** (attempt - 1));
          o.log?.(`send failed (${(err as Error).message}); retrying in ${pause} ms`);
          await new Promise((r) => setTimeout(r, pause));
        }
      }
    },
    close: drop,
  };
}

/** Where `ganf replay --progress FILE` records how far it got (the next row to send). */
export interface ReplayProgress {
  csv: string;
  topic: string;
  site: string;
  nextRow: number;
  updatedAt: string;
}

export function readProgress(file: string): ReplayProgress | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  const p = JSON.parse(text) as ReplayProgress;
  if (!Number.isInteger(p.nextRow) || p.nextRow < 0) throw new Error(`${file}: nextRow must be a row number`);
  return p;
}

export function writeProgress(file: string, p: Omit<ReplayProgress, 'updatedAt'>): Promise<void> {
  return writeFileAtomic(file, `${JSON.stringify({ ...p, updatedAt: new Date().toISOString() })}\n`);
}
