// Shared by the streaming tests: a tiny GANF fitted quickly on a fixture, the fixture's test part
// as sensor messages, and the alerts an uninterrupted run must produce (computed offline from
// batch scores with the same alert engine).
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readCsvFile } from '../../src/adapters/csv-file.ts';
import { selectSensors, sliceRows, type SeriesTable } from '../../src/data/table.ts';
import { fitDetector, saveDetector, scoreTable, type Detector, type TableScores } from '../../src/detector.ts';
import { applyOverrides, loadConfigFile, parseConfig } from '../../src/config.ts';
import { parentsOf } from '../../src/dag-learning/extract.ts';
import { AlertEngine, type AlertRule, type StepObservation } from '../../src/scoring/alert-engine.ts';
import { alertId, type Alert } from '../../src/scoring/alert.ts';
import { expectedReadingsAt } from '../../src/scoring/score-path.ts';
import { encodeReading } from '../../src/stream/messages.ts';
import type { IncomingMessage, OutgoingMessage } from '../../src/adapters/kafka-client.ts';

export const TINY = { 'train.maxSteps': 80, 'train.evalEvery': 10, 'model.hidden': 8, 'model.condition': 8, 'model.flowHidden': 8 };

export async function tinyDetector(fixture: 'grid' | 'traffic' = 'grid'): Promise<{ detector: Detector; test: SeriesTable }> {
  // Half-hour buckets (6 steps): the drift baseline can shift within the test stretches, so every
  // stream = batch comparison built on this detector covers it.
  const config = parseConfig(applyOverrides(loadConfigFile(`config/${fixture}.json`), { ...TINY, 'model.baselineBucketSteps': 6 }));
  const train = await readCsvFile(`fixtures/${fixture}/train.csv`, { intervalMs: 300000 });
  const test = await readCsvFile(`fixtures/${fixture}/test.csv`, { intervalMs: 300000 });
  const { detector } = await fitDetector(sliceRows(train, 1200), config);
  return { detector, test };
}

/** tinyDetector, saved as `<dir>/model` in a fresh temp directory named after `prefix`. */
export async function savedTinyDetector(prefix: string): Promise<{ detector: Detector; test: SeriesTable; dir: string }> {
  const { detector, test } = await tinyDetector('grid');
  const dir = await mkdtemp(path.join(tmpdir(), prefix));
  await saveDetector(detector, path.join(dir, 'model'));
  return { detector, test, dir };
}

export interface FixtureMessage {
  site: string;
  step: number;
  key: string;
  value: string;
}

/**
 * One reading message per (step, sensor) of `table` (the model's sensors plus any `extraSensors`
 * columns, sent as unknown sensors), in event-time order but shuffled within `shuffleSteps`
 * steps (deterministic), with ±jitterMs of clock jitter around each sampling instant.
 */
export function readingMessages(table: SeriesTable, det: Detector, site: string, opts: { shuffleSteps?: number; jitterMs?: number; extraSensors?: string[]; steps?: number } = {}): FixtureMessage[] {
  const rows = selectSensors(table, det.sensors);
  const K = det.sensors.length;
  const T = Math.min(opts.steps ?? rows.timestamps.length, rows.timestamps.length);
  const out: Array<FixtureMessage & { order: number }> = [];
  let h = 12345;
  const rand = () => {
    h = (Math.imul(h, 1103515245) + 12345) >>> 0;
    return h / 2 ** 32;
  };
  const shuffle = opts.shuffleSteps ?? 0;
  const jitter = opts.jitterMs ?? 0;
  for (let t = 0; t < T; t++) {
    const sensors = [...det.sensors, ...(opts.extraSensors ?? [])];
    sensors.forEach((sensor, k) => {
      const value = k < K ? rows.values[t * K + k] : 42;
      const ts = rows.timestamps[t] + Math.round((rand() * 2 - 1) * jitter);
      out.push({ site, step: t, key: site, value: encodeReading({ site, sensor, tsMs: ts, value }), order: t + rand() * shuffle });
    });
  }
  out.sort((a, b) => a.order - b.order);
  return out.map(({ order: _o, ...m }) => m);
}

export function asIncoming(msgs: Array<{ key: string; value: string }>, topic = 'in', partition = 0): IncomingMessage[] {
  // Record timestamps as a producer sending now would set them (the future check compares with them).
  const now = Date.now();
  return msgs.map((m, i) => ({ topic, partition, offset: String(i), key: m.key, value: m.value, timestampMs: now, headers: {} }));
}

export function asOutgoing(msgs: FixtureMessage[]): OutgoingMessage[] {
  return msgs.map((m) => ({ key: m.key, value: m.value }));
}

/** The alerts the engine raises on batch scores (scored with `expected`): what the streamed run must reproduce. */
export function expectedAlerts(det: Detector, site: string, s: TableScores, rule: AlertRule, usable: (t: number) => boolean = () => true): Alert[] {
  const engine = new AlertEngine(rule, {
    site, modelVersion: det.modelVersion, intervalMs: det.config.data.intervalMs, threshold: det.threshold, sensors: det.sensors,
    calibrationMedians: det.calibrationMedians, parents: (x) => parentsOf(det.graph, x),
  });
  const out: Alert[] = [];
  for (let t = 0; t < s.total.length; t++) out.push(...engine.observe(observation(det, s, t, usable(t))));
  return out;
}

/** Step t of batch scores (scored with `expected`) as the alert engine observes it in the stream. */
export function observation(det: Detector, s: TableScores, t: number, usable = true): StepObservation {
  const K = det.sensors.length;
  const implausible = s.implausible.filter((x) => x.t === t).map((x) => det.sensors.indexOf(x.sensor));
  const stuck = s.stuck.filter((x) => x.t === t).map((x) => ({ k: det.sensors.indexOf(x.sensor), steps: x.steps }));
  return {
    tsMs: s.timestamps[t], score: s.total[t], exceeds: s.alerts[t] === 1, perSensor: s.perSensor.subarray(t * K, (t + 1) * K), surprise: s.surprise.subarray(t * K, (t + 1) * K),
    implausible, stuck, usable, readings: (ks) => expectedReadingsAt(det, s, t, ks),
  };
}

export function batchScores(det: Detector, table: SeriesTable, warmStart: boolean): TableScores {
  return scoreTable(det, table, { warmStart, expected: true });
}

/** Alerts reduced to what must match between runs. */
export function alertKey(a: Alert): string {
  return `${alertId(a)}/${a.status}/${a.startsAt}/${a.endsAt}/${a.topSensors.map((t) => t.sensor).join(',')}`;
}

/**
 * Asserts that two runs' alerts carry the same expected vs observed readings (streamed and batch
 * numbers agree up to float rounding: float32 model state, float64 vs float32 raw readings).
 */
export function assertSameReadings(actual: Alert[], expected: Alert[], assert: { equal: (a: unknown, b: unknown, m?: string) => void; ok: (v: unknown, m?: string) => void }): void {
  assert.equal(actual.length, expected.length, 'same number of alerts');
  actual.forEach((a, i) => {
    const e = expected[i];
    assert.equal(a.topSensors.length, e.topSensors.length, `alert ${i}: same top sensors`);
    a.topSensors.forEach((t, j) => t.readings.forEach((r, d) => {
      const x = e.topSensors[j].readings[d];
      for (const key of ['expected', 'observed'] as const) {
        assert.ok(Math.abs(r[key] - x[key]) <= 1e-3 * (1 + Math.abs(x[key])), `alert ${i} ${t.sensor} ${key}: ${r[key]} vs ${x[key]}`);
      }
    }));
  });
}
