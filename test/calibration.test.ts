// Calibrated per-sensor surprises, the score aggregates built on them, the label-free threshold's
// sanity fallback, and the input guards (plausible range, constant sensors that move).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seededUniform } from '../src/util/rng.ts';
import { fitCalibration, surprise, calibrationMedians, SURPRISE_SOFT_CAP } from '../src/scoring/calibration.ts';
import { aggregateRow, topKDefault } from '../src/scoring/aggregate.ts';
import { fallbackWarning, fitThreshold, robustThreshold, spotThreshold, thresholdProblem } from '../src/scoring/threshold.ts';
import { fitScaler, applyScaler, standardiseRow, unseenConstantValues } from '../src/data/preprocess.ts';
import { parseConfig } from '../src/config.ts';
import type { SeriesTable } from '../src/data/table.ts';

/** [T*K] NLLs where sensor k is Exp(1) shifted by k and scaled by (k + 1): very different raw scales. */
function exponentialColumns(T: number, K: number, seed: number): Float32Array {
  const u = seededUniform(seed);
  return Float32Array.from({ length: T * K }, (_, i) => { const k = i % K; return k + (k + 1) * -Math.log(1 - u()); });
}

test('surprise is -log of the tail probability under each sensor\'s own calibration, whatever its raw scale', () => {
  const K = 3;
  const cal = fitCalibration(exponentialColumns(20000, K, 1), K);
  for (let k = 0; k < K; k++) {
    // For Exp(scale) shifted by k, P(V >= k + scale * x) = exp(-x): the surprise is x.
    for (const x of [0.5, 1, 2, 5, 9]) {
      const s = surprise(cal, k, k + (k + 1) * x);
      assert.ok(Math.abs(s - x) < 0.12 * x + 0.05, `sensor ${k}, x ${x}: surprise ${s}`);
    }
    assert.equal(surprise(cal, k, k - 1), 0);
  }
  // The medians are the raw medians (k + (k+1) ln 2).
  calibrationMedians(cal).forEach((m, k) => assert.ok(Math.abs(m - (k + (k + 1) * Math.LN2)) < 0.05 * (k + 1)));
});

test('the tail ignores contamination in the top of the calibration data, and huge NLLs grow only logarithmically', () => {
  const clean = exponentialColumns(5000, 1, 2);
  const dirty = Float32Array.from(clean);
  // 3 % of the calibration steps are anomalies with NLL 1000.
  for (let i = 0; i < 150; i++) dirty[i * 33] = 1000;
  const a = fitCalibration(clean, 1);
  const b = fitCalibration(dirty, 1);
  // Clean: P(V >= 8) = exp(-8). Contamination shifts the body quantiles by its share only (a tail
  // fitted to the top 10 % would put its scale near 300 and call 8 unremarkable, surprise ~2.3).
  assert.ok(Math.abs(surprise(a, 0, 8) - 8) < 0.8, `clean ${surprise(a, 0, 8)}`);
  assert.ok(Math.abs(surprise(a, 0, 8) - surprise(b, 0, 8)) < 1.5, `${surprise(a, 0, 8)} vs ${surprise(b, 0, 8)}`);
  const s1 = surprise(a, 0, 1e3);
  const s2 = surprise(a, 0, 1e16);
  assert.ok(s1 > SURPRISE_SOFT_CAP && s2 > s1 && s2 < SURPRISE_SOFT_CAP + 40, `${s1} ${s2}`);
  assert.equal(surprise(a, 0, NaN), SURPRISE_SOFT_CAP);
});

test('top-k averages the k most surprising sensors; a single-sensor fault is not diluted by quiet sensors', () => {
  const K = 100;
  const cal = fitCalibration(exponentialColumns(4000, K, 3).map((v, i) => v - (i % K)), K);
  const normal = exponentialColumns(1, K, 4).map((v, i) => v - (i % K));
  const fault = Float32Array.from(normal);
  fault[17] = 40 * (17 + 1);
  const k = topKDefault(K);
  assert.equal(k, 10);
  const spec = { mode: 'top-k' as const, k };
  const surprises = (x: Float32Array) => Float32Array.from({ length: K }, (_, j) => surprise(cal, j, x[j]));
  const row = (x: Float32Array, sp: typeof spec | { mode: 'joint' | 'max-sensor'; k: number }) => aggregateRow(x, surprises(x), 0, K, sp);
  const gain = row(fault, spec) - row(normal, spec);
  // One sensor at surprise ~30 lifts the mean of the top 10 by about 30/10 - (what it displaced)/10.
  assert.ok(gain > 2, `top-k gain ${gain}`);
  const joint = { mode: 'joint' as const, k };
  assert.ok(Math.abs(row(fault, joint) - normal.reduce((a, b) => a + b, 0) - (fault[17] - normal[17])) < 1e-3);
  const max = row(fault, { mode: 'max-sensor', k });
  assert.ok(Math.abs(max - Math.max(...surprises(fault))) < 1e-5);
});

test('a threshold fitted on a contaminated calibration tail falls back to the robust body extrapolation', () => {
  const u = seededUniform(5);
  const scores = Float32Array.from({ length: 2000 }, () => 5 + -Math.log(1 - u()));
  // The last 5 % of the calibration split holds an incident scored ~400.
  for (let i = 1900; i < 2000; i++) scores[i] = 400 + 10 * u();
  const spot = spotThreshold(scores, { q: 1e-3, initialQuantile: 0.98 });
  assert.ok(spot.value > 300, `spot lands in the incident: ${spot.value}`);
  const c = parseConfig({}).threshold;
  const t = fitThreshold(scores, c);
  assert.equal(t.method, 'robust-tail');
  assert.match(t.fallback!, /contaminated|fires on/);
  assert.match(fallbackWarning(t)!, /using the robust tail threshold \d/);
  // Exp(1) + 5 at q = 1e-3: about 5 + 6.9.
  assert.ok(t.value > 9 && t.value < 16, `robust threshold ${t.value}`);
  // Clean scores keep the configured method.
  const cleanScores = Float32Array.from({ length: 2000 }, () => 5 + -Math.log(1 - u()));
  const clean = fitThreshold(cleanScores, c);
  assert.equal(clean.method, 'spot');
  assert.equal(clean.fallback, undefined);
  assert.equal(fallbackWarning(clean), undefined);
  assert.equal(thresholdProblem(clean, cleanScores, 0.02), undefined);
  // A heavy but clean tail (Pareto, xi = 0.8) keeps its SPOT threshold: only a cluster is contamination.
  const heavy = Float32Array.from({ length: 4000 }, () => Math.pow(1 - u(), -0.8) - 1);
  assert.equal(fitThreshold(heavy, c).method, 'spot');
  // A threshold that would fire on most steps is refused too.
  const low = { ...clean, value: 5.1 };
  assert.match(thresholdProblem(low, cleanScores, 0.02)!.reason, /fires on 9\d\.\d % of the calibration steps/);
  assert.equal(robustThreshold(cleanScores, 1e-3, 'x').fallback, 'x');
});

test('a SPOT threshold extrapolated far beyond a short calibration set falls back to the calibration\'s own extreme quantile (1 - 1/n), not below its top scores', () => {
  const u = seededUniform(6);
  // 300 validation steps: an Exp(1) body, and 20 peaks over its 0.933 quantile spread like a
  // GPD with xi = 2 (at its quantiles), so the tail fit carries that shape out to q = 1e-3.
  const scores = Float32Array.from({ length: 300 }, () => 3 + -Math.log(1 - u())).sort();
  const t = scores[279];
  const peak = (i: number) => t + (0.1 * ((21 / i) ** 2 - 1)) / 2;
  for (let i = 1; i <= 20; i++) scores[279 + i] = peak(i);
  const max = peak(1);
  const spot = spotThreshold(scores, { q: 1e-3, initialQuantile: 1 - 20 / 300 });
  assert.ok(spot.gpd!.xi > 0.5, `xi ${spot.gpd!.xi}`);
  assert.ok(spot.value - max > max - spot.initialThreshold, `spot ${spot.value}, largest score ${max}`);
  const c = parseConfig({}).threshold;
  const fitted = fitThreshold(scores, c);
  assert.equal(fitted.method, 'quantile');
  assert.match(fitted.fallback!, /farther above the largest calibration score/);
  // 300 scores cannot state q = 1e-3: the quantile at 1 - 1/300, between the two largest scores.
  const sorted = Float64Array.from(scores).sort();
  assert.equal(fitted.level, 1 - 1 / 300);
  assert.ok(fitted.value > sorted[298] && fitted.value < max, `threshold ${fitted.value}, two largest ${sorted[298]}, ${max}`);
  assert.equal(scores.filter((v) => v > fitted.value).length, 1);
  assert.match(fallbackWarning(fitted)!, /^warning: the spot threshold .* using the calibration's 0\.9967 quantile \d/);
});

function table(columns: Record<string, number[]>): SeriesTable {
  const sensors = Object.keys(columns);
  const T = columns[sensors[0]].length;
  const values = new Float32Array(T * sensors.length);
  sensors.forEach((s, k) => columns[s].forEach((v, t) => (values[t * sensors.length + k] = v)));
  return { timestamps: Float64Array.from({ length: T }, (_, t) => t * 1000), sensors, features: ['value'], values };
}

test('readings outside the plausible range are clipped before the model, in batch and stream alike', () => {
  const train = table({ a: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10], b: [1, 3, 1, 3, 1, 3, 1, 3, 1, 3, 1] });
  const scaler = fitScaler(train, { plausibleMargin: 0.5 });
  // a: range [0, 10] widened by 5 on each side -> plausible [-5, 15], and by its dequantisation
  // width q (the noise floor) beyond: readings are scored at x + q/2, training saw x + U(0, q).
  const f = scaler.kept[0].features[0];
  const q = f.resolution!;
  const zOf = (x: number) => (x + q / 2 - f.mean) / f.std;
  const glitch = table({ a: [1e6, -1e6, 14], b: [1, 1, 1] });
  const out = applyScaler(glitch, scaler, { dequantise: 'midpoint' });
  assert.ok(Math.abs(out[0] - zOf(15 + q / 2)) < 1e-5 && Math.abs(out[2] - zOf(-5 - q / 2)) < 1e-5 && Math.abs(out[4] - zOf(14)) < 1e-5, `${out}`);
  const row = standardiseRow([1e6, 1], scaler);
  assert.equal(row[0], out[0]);
  // Outside the range = a positive distance beyond it (what scoring adds and what flags the reading).
  const beyond = (x: number) => { const ex = new Float32Array(2); standardiseRow([x, 1], scaler, ex); return ex[0]; };
  assert.equal(beyond(1e6) > 0, true);
  assert.equal(beyond(14) > 0, false);
  assert.equal(beyond(-5.5) > 0, true);
});

test('a sensor constant in training that moves is reported as an unseen value at each such step', () => {
  const train = table({ a: [0, 1, 2, 3, 4, 5], cmd: [0, 0, 0, 0, 0, 0] });
  const scaler = fitScaler(train);
  assert.deepEqual(scaler.dropped.map((d) => [d.sensor, d.constant]), [['cmd', [0]]]);
  const later = table({ a: [1, 2, 3, 4], cmd: [0, 1, 1, 0] });
  assert.deepEqual(unseenConstantValues(later, scaler), [{ t: 1, sensor: 'cmd' }, { t: 2, sensor: 'cmd' }]);
  // Absent when scoring: nothing to check, no error.
  assert.deepEqual(unseenConstantValues(table({ a: [1, 2] }), scaler), []);
});

test('the default training budget follows the data size: small files train in a few hundred steps, large ones are capped', async () => {
  const { defaultMaxSteps } = await import('../src/flow/budget.ts');
  assert.equal(defaultMaxSteps(320), 200);
  assert.equal(defaultMaxSteps(4000), 500);
  assert.equal(defaultMaxSteps(100_000), 800);
  // Without train.maxSteps in the config, the budget is resolved when fitting (and written to the manifest).
  assert.equal(parseConfig({}).train.maxSteps, undefined);
});
