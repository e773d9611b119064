/**
 * The built-in in-process source: a CSV replayed as sensor messages straight into the same
 * StreamProcessor the Kafka pipeline uses (same contract check, aligner, scorer, alert engine and
 * sinks), so `ganf serve` works without any broker or database.
 */
import type { Detector } from '../detector.ts';
import type { SeriesTable } from '../data/table.ts';
import type { IncomingMessage } from '../adapters/kafka-client.ts';
import type { Alert } from '../scoring/alert.ts';
import { StreamProcessor, type ProcessorSettings, type SiteStats } from './processor.ts';
import { replayTable } from './replay.ts';
import type { StreamOutput, StreamSink } from './sinks.ts';

export interface InProcessOptions {
  detector: Detector;
  table: SeriesTable;
  site: string;
  format: 'reading' | 'snapshot';
  /** Event time per wall-clock time; 0 = as fast as possible. */
  speed: number;
  processing: ProcessorSettings;
  sinks: StreamSink[];
  signal?: AbortSignal;
  log?: (msg: string) => void;
  statsIntervalMs?: number;
}

export interface InProcessSummary {
  messages: number;
  steps: number;
  degradedSteps: number;
  alerts: Alert[];
  rejected: number;
  stats: SiteStats[];
  seconds: number;
}

export async function runInProcess(o: InProcessOptions): Promise<InProcessSummary> {
  const processor = new StreamProcessor(o.detector, o.processing);
  const log = o.log ?? (() => {});
  const alerts: Alert[] = [];
  let messages = 0;
  let steps = 0;
  let degraded = 0;
  let offset = 0;
  const started = performance.now();
  let lastLog = started;
  const deliver = async (out: StreamOutput) => {
    steps += out.steps.length;
    degraded += out.steps.filter((s) => s.degraded).length;
    alerts.push(...out.alerts);
    for (const sink of o.sinks) await sink.write(out);
  };
  const drain = async (all: boolean) => {
    const out: StreamOutput = { steps: [], alerts: [], stats: [] };
    const outputs = all ? processor.flush() : processor.scoreReady();
    for (const r of outputs) {
      for (const x of r.rejected) log(`rejected step (${x.kind}): ${x.error}`);
      out.steps.push(...r.steps);
      out.alerts.push(...r.alerts.map((a) => a.alert));
    }
    out.stats = processor.takeDirty().map((s) => processor.stats(s));
    await deliver(out);
  };
  try {
    await replayTable(o.table, async (batch) => {
      const now = Date.now();
      for (const m of batch) {
        const msg: IncomingMessage = {
          topic: 'in-process', partition: 0, offset: String(offset++), key: m.key ?? null, value: String(m.value), timestampMs: now, headers: {},
        };
        for (const r of processor.ingest(msg)) log(`rejected message ${r.message.offset} (${r.kind}): ${r.error}`);
      }
      messages += batch.length;
      await drain(false);
      if (o.statsIntervalMs && performance.now() - lastLog > o.statsIntervalMs) {
        lastLog = performance.now();
        log(`${messages} messages, ${steps} steps scored, ${alerts.length} alert notifications`);
      }
    }, { site: o.site, format: o.format, speed: o.speed, signal: o.signal, batch: 2000 });
    if (!o.signal?.aborted) await drain(true);
    return {
      messages, steps, degradedSteps: degraded, alerts, rejected: processor.rejected,
      stats: processor.siteNames.map((s) => processor.stats(s)), seconds: (performance.now() - started) / 1000,
    };
  } finally {
    processor.dispose();
    for (const s of o.sinks) await s.close().catch(() => {});
  }
}
