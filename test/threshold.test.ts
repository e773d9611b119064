import { seededUniform } from '../src/util/rng.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  quantileThreshold,
  empiricalQuantile,
  spotThreshold,
  fitGpd,
  tailProbability,
  parseThresholdState,
} from '../src/scoring/threshold.ts';

const rng = seededUniform;

/** Uniform in (0, 1], so -log and powers stay finite. */
const open = (r: () => number) => () => 1 - r();

function exponential(n: number, scale: number, seed: number): Float64Array {
  const u = open(rng(seed));
  return Float64Array.from({ length: n }, () => -Math.log(u()) * scale);
}

/** Lomax (Pareto II) with shape alpha: its excesses over any threshold are GPD with xi = 1/alpha. */
function lomax(n: number, alpha: number, seed: number): Float64Array {
  const u = open(rng(seed));
  return Float64Array.from({ length: n }, () => Math.pow(u(), -1 / alpha) - 1);
}

test('quantile threshold is exact (linear interpolation between order statistics)', () => {
  const s = [3, 1, 4, 1, 5, 9, 2, 6]; // sorted 1 1 2 3 4 5 6 9
  assert.equal(quantileThreshold(s, 0.5).value, 3.5);
  assert.ok(Math.abs(quantileThreshold(s, 0.9).value - 6.9) < 1e-12);
  assert.equal(empiricalQuantile(s, 0), 1);
  assert.equal(empiricalQuantile(s, 1), 9);
  assert.equal(empiricalQuantile([1, 2, 3, 4, 5], 0.25), 2);
  const st = quantileThreshold(s, 0.5);
  assert.equal(st.method, 'quantile');
  assert.equal(st.nCalibration, 8);
  assert.equal(st.gpd, null);
  assert.throws(() => quantileThreshold([1, NaN], 0.5), /index 1 is NaN/);
  assert.throws(() => quantileThreshold([1, 2], 1), /\(0, 1\)/);
});

test('tail probability from a quantile state is the empirical exceedance', () => {
  const st = quantileThreshold([1, 2, 3, 4, 5], 0.5);
  assert.equal(tailProbability(0, st), 1);
  assert.equal(tailProbability(3, st), 0.5);
  assert.equal(tailProbability(3.5, st), 0.375);
  assert.equal(tailProbability(5, st), 0);
});

test('SPOT on exponential scores approximates the true quantile -log(q)*scale within 15%', () => {
  const scale = 2;
  for (const [seed, q] of [
    [11, 1e-3],
    [12, 1e-4],
    [13, 1e-3],
  ] as const) {
    const st = spotThreshold(exponential(20000, scale, seed), { q, initialQuantile: 0.98 });
    const truth = -Math.log(q) * scale;
    assert.ok(Math.abs(st.value - truth) / truth < 0.15, `q=${q}: ${st.value} vs ${truth} (xi ${st.gpd?.xi})`);
    assert.ok(Math.abs(st.gpd!.xi) < 0.15, `xi ${st.gpd!.xi}`);
    // The fitted tail gives back the risk level at the threshold.
    assert.ok(Math.abs(tailProbability(st.value, st) / q - 1) < 1e-6);
  }
});

test('SPOT on Pareto scores recovers xi roughly', () => {
  for (const [alpha, seed] of [
    [4, 21],
    [2, 22],
  ] as const) {
    const st = spotThreshold(lomax(50000, alpha, seed), { q: 1e-4, initialQuantile: 0.98 });
    assert.equal(st.gpd!.fit, 'mle');
    assert.ok(Math.abs(st.gpd!.xi - 1 / alpha) < 0.12, `alpha ${alpha}: xi ${st.gpd!.xi}`);
    const truth = Math.pow(1e-4, -1 / alpha) - 1;
    assert.ok(Math.abs(st.value - truth) / truth < 0.3, `alpha ${alpha}: ${st.value} vs ${truth}`);
  }
});

test('bounded tails: GPD fit stays finite with negative xi', () => {
  const u = rng(31);
  const uniform = Float64Array.from({ length: 20000 }, () => u());
  const st = spotThreshold(uniform, { q: 1e-3, initialQuantile: 0.95 });
  assert.ok(st.gpd!.xi < -0.3, `xi ${st.gpd!.xi}`);
  assert.ok(st.value > st.initialThreshold && st.value <= 1.01, `value ${st.value}`);
  assert.equal(tailProbability(2, st), 0, 'beyond the fitted endpoint');
});

test('fitGpd: exact exponential case and degenerate input', () => {
  const g = fitGpd(exponential(5000, 3, 41));
  assert.ok(Math.abs(g.xi) < 0.08, `xi ${g.xi}`);
  assert.ok(Math.abs(g.sigma - 3) / 3 < 0.08, `sigma ${g.sigma}`);
  assert.deepEqual(fitGpd([2, 2, 2, 2]), { xi: 0, sigma: 2, fit: 'exponential', nPeaks: 4 });
  assert.throws(() => fitGpd([1, 0, 2]), /positive/);
});

test('tailProbability is continuous at t and decreasing; state is JSON-serialisable', () => {
  const st = spotThreshold(exponential(10000, 1, 51), { q: 1e-3 });
  const t = st.initialThreshold;
  const below = tailProbability(t, st);
  const above = tailProbability(t + 1e-9, st);
  assert.ok(Math.abs(below - above) < 0.002, `${below} vs ${above}`);
  let prev = 1;
  for (let s = -1; s < 15; s += 0.25) {
    const p = tailProbability(s, st);
    assert.ok(p <= prev + 1e-12 && p >= 0);
    prev = p;
  }
  assert.deepEqual(parseThresholdState(JSON.parse(JSON.stringify(st))), st);
  assert.ok(st.empiricalQuantiles.length <= 1001);
});

test('SPOT refuses risk levels it cannot support', () => {
  assert.throws(() => spotThreshold(exponential(100, 1, 61), { q: 1e-3 }), /only 2 calibration scores exceed.*at least 500/);
  assert.throws(() => spotThreshold(exponential(10000, 1, 62), { q: 0.05 }), /not beyond the initial threshold/);
});
