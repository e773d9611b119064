// Helpers for the API's tests and benchmark: tiny models fitted in seconds, a service in a
// temporary directory with one key per role, and sample alerts from the real alert engine. Not
// used by the service itself.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { initBackend } from '../../src/flow/tf.ts';
import { readCsvFile } from '../../src/adapters/csv-file.ts';
import { sliceRows, type SeriesTable } from '../../src/data/table.ts';
import { fitDetector, type Detector } from '../../src/detector.ts';
import { applyOverrides, loadConfigFile, parseConfig, type GanfConfig } from '../../src/config.ts';
import { parseApiConfig, type ApiConfigInput } from '../../src/api/config.ts';
import { createApiService, type ApiService, type ServiceOptions } from '../../src/api/server.ts';
import { ModelRegistry } from '../../src/api/models/registry.ts';
import { AlertEngine, AlertRuleSchema, type StepObservation } from '../../src/scoring/alert-engine.ts';
import { exceeds, quantileThreshold } from '../../src/scoring/threshold.ts';
import type { Alert } from '../../src/scoring/alert.ts';

export const TINY = { 'train.maxSteps': 30, 'train.evalEvery': 10, 'model.hidden': 8, 'model.condition': 8, 'model.flowHidden': 8 };

export const TEST_KEYS = {
  reader: 'reader-key-0123456789abcdef',
  operator: 'operator-key-0123456789abcdef',
  admin: 'admin-key-0123456789abcdef0123',
} as const;

export function tinyConfig(preset: 'grid' | 'traffic' = 'grid', extra: Record<string, unknown> = {}): GanfConfig {
  return parseConfig(applyOverrides(loadConfigFile(`config/${preset}.json`), { ...TINY, ...extra }));
}

export async function fixtureRows(fixture: 'grid' | 'traffic', part: 'train' | 'test', start: number, end: number): Promise<SeriesTable> {
  const t = await readCsvFile(`fixtures/${fixture}/${part}.csv`, { intervalMs: 300000 });
  const { labels: _l, ...rest } = sliceRows(t, start, end);
  return rest;
}

export async function fitTiny(table: SeriesTable, config: GanfConfig = tinyConfig()): Promise<Detector> {
  await initBackend();
  return (await fitDetector(table, config)).detector;
}

export interface TestService extends ApiService {
  dir: string;
  url?: string;
  auth(role: keyof typeof TEST_KEYS): Record<string, string>;
}

/** A service in a fresh temporary directory; models are added and the first one promoted. */
export async function startTestService(models: Detector[], config: Partial<ApiConfigInput> = {}, opts: ServiceOptions = {}): Promise<TestService> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ganf-api-'));
  const modelsRoot = path.join(dir, 'models');
  const reg = await ModelRegistry.open(modelsRoot);
  for (const m of models) await reg.addDetector(m, { origin: { kind: 'import', by: 'test' }, evaluation: null });
  if (models.length) await reg.promote(models[0].modelVersion, { by: 'test' });
  reg.dispose();
  const cfg = parseApiConfig({
    port: 0,
    dataDir: path.join(dir, 'data'),
    modelsRoot,
    ...config,
    auth: {
      keys: [
        { name: 'reader', role: 'reader', key: TEST_KEYS.reader },
        { name: 'operator', role: 'operator', key: TEST_KEYS.operator },
        { name: 'admin', role: 'admin', key: TEST_KEYS.admin },
      ],
      ...(config.auth ?? {}),
    },
  });
  const service = await createApiService(cfg, opts);
  return Object.assign(service, {
    dir,
    auth: (role: keyof typeof TEST_KEYS) => ({ authorization: `Bearer ${TEST_KEYS[role]}` }),
  });
}

const SAMPLE_INTERVAL_MS = 300_000;
/** Calibration scores 0..99: the quantile threshold sits at 89.1; a score of 95 is a warning, one beyond 99 critical. */
const SAMPLE_THRESHOLD = quantileThreshold(Float64Array.from({ length: 100 }, (_, i) => i), 0.9);

export interface SampleAlertOptions {
  site?: string;
  severity?: 'warning' | 'critical';
  startsAt?: string;
  /** Resolved at this time (a whole number of 5-minute steps after startsAt); firing without it. */
  endsAt?: string;
}

/**
 * The i-th sample alert, produced by the stream's real AlertEngine: site north/south/east by i,
 * severity warning/critical by i, start 2024-01-11 + i hours, top sensors B0(i%5+1) and
 * B0((i+2)%5+1), each with the next sensor as its DAG parent. The engine is fed synthetic steps
 * (scores above the threshold from startsAt to endsAt, then one below) whose expected vs observed
 * readings are made up; everything else is what the producer computes.
 */
export function sampleAlert(i: number, over: SampleAlertOptions = {}): Alert {
  const sites = ['north', 'south', 'east'];
  const sensors = ['B01', 'B02', 'B03', 'B04', 'B05'];
  const severity = over.severity ?? (i % 2 === 0 ? 'warning' : 'critical');
  const start = over.startsAt !== undefined ? Date.parse(over.startsAt) : Date.UTC(2024, 0, 11) + i * 3_600_000;
  const exceeding = over.endsAt !== undefined ? (Date.parse(over.endsAt) - start) / SAMPLE_INTERVAL_MS : 1;
  if (!(Number.isInteger(exceeding) && exceeding >= 1)) throw new Error(`sampleAlert: endsAt must be a whole number (>= 1) of steps after startsAt, got ${exceeding}`);
  const top = [i % 5, (i + 2) % 5];
  const engine = new AlertEngine(AlertRuleSchema.parse({ fireAfter: 1, ofLast: 1, resolveHoldMs: 0, topSensors: 2 }), {
    site: over.site ?? sites[i % sites.length], modelVersion: 'm1', intervalMs: SAMPLE_INTERVAL_MS, threshold: SAMPLE_THRESHOLD,
    sensors, calibrationMedians: new Float32Array(sensors.length), parents: (x) => [sensors[(sensors.indexOf(x) + 1) % sensors.length]],
  });
  const step = (t: number, score: number): StepObservation => {
    const surprise = new Float32Array(sensors.length);
    surprise[top[0]] = 5.5;
    surprise[top[1]] = 2.25;
    return {
      tsMs: start + t * SAMPLE_INTERVAL_MS, score, exceeds: exceeds(score, SAMPLE_THRESHOLD.value), perSensor: surprise.map((v) => v + 1), surprise,
      implausible: [], usable: true, readings: (ks) => ks.map((k) => [{ feature: 'value', expected: 10 * k, observed: 10 * k + surprise[k] }]),
    };
  };
  const alerts: Alert[] = [];
  for (let t = 0; t < exceeding; t++) alerts.push(...engine.observe(step(t, severity === 'critical' ? 200 + i : 95)));
  if (over.endsAt !== undefined) alerts.push(...engine.observe(step(exceeding, 0)));
  const last = alerts.at(-1);
  if (!last || last.labels.severity !== severity) throw new Error('sampleAlert: the engine did not raise the alert asked for');
  return last;
}

/**
 * Grid data whose topology changes part-way: DC power flow on the grid fixture's network with its
 * loads and PMU noise, and from row `shiftAt` on the `lines` strongest-effect non-bridge lines out
 * of service (a rerouting), so the angles' relations (the graph) and levels change. Deterministic.
 */
export async function reroutedGrid(opts: { seed?: number; days: number; shiftAt: number; lines?: number }): Promise<{ table: SeriesTable; outLines: string[]; shiftMs: number }> {
  const { buildGridModel } = await import('../../src/fixtures/grid.ts');
  const { resolveTimeAxis } = await import('../../src/fixtures/common.ts');
  const { DcSolver, bridgeLines, networkConnected } = await import('../../src/fixtures/powerflow.ts');
  const { Rng } = await import('../../src/util/rng.ts');
  const seed = opts.seed ?? 1;
  const axis = resolveTimeAxis({ seed, trainDays: opts.days, testDays: 1 }, seed);
  const model = buildGridModel(seed, axis);
  const T = opts.days * 288;
  const K = model.sensors.length;
  const DEG = 180 / Math.PI;
  const base = new DcSolver(model.net);
  const theta = new Float64Array(model.net.nBus);
  // Pick lines greedily by the mean angle change they cause (over a day of load).
  const out = new Set<number>();
  for (let n = 0; n < (opts.lines ?? 2); n++) {
    const bridges = bridgeLines(model.net, out);
    let best = -1;
    let bestEffect = -1;
    model.net.lines.forEach((_l, i) => {
      if (out.has(i) || bridges.has(i)) return;
      const trial = new Set([...out, i]);
      if (!networkConnected(model.net, trial)) return;
      const s = new DcSolver(model.net, trial);
      const th2 = new Float64Array(model.net.nBus);
      let effect = 0;
      for (let t = 0; t < 288; t += 12) {
        base.solve(model.injections[t], theta);
        s.solve(model.injections[t], th2);
        for (const b of model.sensorBus) effect += Math.abs(th2[b] - theta[b]);
      }
      if (effect > bestEffect) {
        bestEffect = effect;
        best = i;
      }
    });
    out.add(best);
  }
  const shifted = new DcSolver(model.net, out);
  const rng = new Rng(seed).fork('api-drift-noise');
  const values = new Float32Array(T * K);
  const timestamps = new Float64Array(T);
  for (let t = 0; t < T; t++) {
    timestamps[t] = axis.startMs + t * 300_000;
    (t < opts.shiftAt ? base : shifted).solve(model.injections[t], theta);
    for (let k = 0; k < K; k++) values[t * K + k] = Math.round((theta[model.sensorBus[k]] * DEG + rng.normal(0, model.pmuNoiseDeg[k])) * 1e4) / 1e4;
  }
  return { table: { timestamps, sensors: [...model.sensors], features: ['value'], values }, outLines: [...out].map((i) => model.lineIds[i]), shiftMs: timestamps[opts.shiftAt] };
}
