import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitPca, scorePca } from '../src/scoring/baselines/pca.ts';
import { fitIsolationForest, scoreIsolationForest, averagePathLength } from '../src/scoring/baselines/isolation-forest.ts';
import { runBaseline } from '../src/scoring/baselines/index.ts';
import { validationRows } from '../src/scoring/split.ts';
import { parseConfig } from '../src/config.ts';
import { seededUniform } from '../src/util/rng.ts';
import type { SeriesTable } from '../src/data/table.ts';

const close = (a: number, b: number, tol: number) => assert.ok(Math.abs(a - b) <= tol, `${a} != ${b} (tol ${tol})`);

function table(rows: number[][], sensors = rows[0].map((_, i) => `s${i}`)): SeriesTable {
  return {
    timestamps: Float64Array.from(rows, (_, i) => i * 1000),
    sensors, features: ['value'], values: Float32Array.from(rows.flat()),
  };
}

test('PCA: points on the training line reconstruct exactly; an off-line point scores its known residual', () => {
  // b = 2a exactly: after standardisation both columns are the same z, so one component (1,1)/sqrt2 holds 100 % of the variance.
  const train = table(Array.from({ length: 50 }, (_, i) => [i, 2 * i]));
  const m = fitPca(train);
  assert.equal(m.components.length, 1);
  const s = scorePca(table([[10, 20], [30, 60], [24.5, 2 * 24.5]]), m);
  for (const v of s.scores) close(v, 0, 1e-6);
  // Off the line: standardised (za, zb); residual = (za - zb)/2 * (1, -1), so each sensor gets ((za - zb)/2)^2.
  const off = scorePca(table([[10, 0]]), m);
  const za = (10 - m.mean[0]) / m.std[0];
  const zb = (0 - m.mean[1]) / m.std[1];
  const each = ((za - zb) / 2) ** 2;
  close(off.perSensor![0], each, 1e-4);
  close(off.perSensor![1], each, 1e-4);
  close(off.scores[0], 2 * each, 1e-4);
});

test('PCA: keeps components for 95 % of the variance and scores a sensor that was constant in training', () => {
  const rand = seededUniform(7);
  // Three independent unit-variance sensors plus one constant: all three are needed for 95 %.
  const train = table(Array.from({ length: 400 }, () => [rand() - 0.5, rand() - 0.5, rand() - 0.5, 5]));
  const m = fitPca(train);
  assert.equal(m.components.length, 3);
  assert.ok(m.explainedVariance >= 0.95);
  const s = scorePca(table([[0, 0, 0, 5], [0, 0, 0, 8]]), m);
  close(s.scores[0], 0, 1e-9);
  // The constant sensor keeps scale 1 (no division by zero): moving by 3 scores 3^2 on that sensor.
  close(s.perSensor![1 * 4 + 3], 9, 1e-6);
});

test('IsolationForest: an isolated outlier scores above every inlier; c(n) is the standard normaliser', () => {
  close(averagePathLength(2), 1, 0);
  close(averagePathLength(256), 2 * (Math.log(255) + 0.5772156649015329) - (2 * 255) / 256, 1e-12);
  const rand = seededUniform(3);
  const train = table(Array.from({ length: 1000 }, () => [rand(), rand(), rand()]));
  const f = fitIsolationForest(train, { seed: 1 });
  assert.equal(f.trees.length, 100);
  assert.equal(f.subsample, 256);
  const inliers = Array.from({ length: 50 }, () => [0.25 + 0.5 * rand(), 0.25 + 0.5 * rand(), 0.25 + 0.5 * rand()]);
  const s = scoreIsolationForest(table([...inliers, [5, 5, 5]]), f);
  const out = s.scores[50];
  assert.ok(out > 0.6, `outlier score ${out}`);
  assert.ok(Math.max(...s.scores.slice(0, 50)) < out);
  assert.equal(s.perSensor, null);
});

test('IsolationForest: the same seed gives the same scores, another seed different ones', () => {
  const rand = seededUniform(11);
  const train = table(Array.from({ length: 300 }, () => [rand(), rand()]));
  const probe = table([[0.5, 0.5], [0.9, 0.1], [2, 2]]);
  const a = scoreIsolationForest(probe, fitIsolationForest(train, { seed: 5 })).scores;
  const b = scoreIsolationForest(probe, fitIsolationForest(train, { seed: 5 })).scores;
  const c = scoreIsolationForest(probe, fitIsolationForest(train, { seed: 6 })).scores;
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
});

test('baselines refuse a table missing a fitted sensor or holding a missing cell', () => {
  const train = table([[1, 2], [2, 4], [3, 7]]);
  assert.throws(() => scorePca(table([[1, 2]], ['s0', 'x']), fitPca(train)), /missing sensor\(s\).*: s1/);
  assert.throws(() => scoreIsolationForest(table([[1, NaN]]), fitIsolationForest(train)), /missing value at row 0/);
});

test('runBaseline: fits before the validation tail, thresholds on it with the score window, and flags a jump', () => {
  const c = parseConfig({ model: { window: 5, scoreWindow: 3 }, train: { validationFraction: 0.2 }, threshold: { method: 'quantile', level: 0.01 } });
  const rand = seededUniform(21);
  const normal = () => { const a = rand(); return [a, 2 * a + 0.01 * rand(), rand()]; };
  const train = table(Array.from({ length: 500 }, normal));
  const testRows = Array.from({ length: 60 }, normal);
  testRows[40] = [0.2, 5, 0.5]; // b far outside its range and off the b = 2a line
  const test = table(testRows);
  assert.equal(validationRows(500, c), 100);
  for (const name of ['pca', 'zscore'] as const) {
    const r = runBaseline(name, train, test, c);
    assert.equal(r.alerts[40], 1, `${name} misses the jump (score ${r.scores[40]}, threshold ${r.threshold})`);
    // The score window spreads the jump over the next 2 steps and no further.
    assert.ok(r.scores[42] > r.scores[43], `${name}: window of 3 expected`);
    assert.equal(r.perSensor!.length, 60 * 3);
  }
  const f = runBaseline('iforest', train, test, c);
  assert.equal(f.perSensor, null);
  assert.equal(f.scores.length, 60);
});
