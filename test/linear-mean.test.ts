import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitLinearMean, parentRidgeCounts } from '../src/flow/linear-mean.ts';
import { cholesky, choleskySolve, normalEquations, residualSumOfSquares, ridgeLeastSquares, solvePenalised } from '../src/util/least-squares.ts';
import { Rng } from '../src/util/rng.ts';
import type { Series } from '../src/flow/chunks.ts';

function series(T: number, K: number, step: (prev: number[], t: number) => number[]): Series {
  const data = new Float32Array(T * K);
  let prev = new Array<number>(K).fill(0);
  for (let t = 0; t < T; t++) {
    prev = step(prev, t);
    data.set(prev, t * K);
  }
  return { data, steps: T, sensors: K, features: 1 };
}

test('Cholesky solve of a known 3x3 system; ridge least squares with an unpenalised intercept', () => {
  const M = Float64Array.from([4, 2, 0.6, 2, 5, 1, 0.6, 1, 3]);
  const x = [1, -2, 0.5];
  const v = Float64Array.from([0, 1, 2].map((i) => x.reduce((s, xj, j) => s + M[i * 3 + j] * xj, 0)));
  choleskySolve(cholesky(M, 3), 3, v).forEach((xi, i) => assert.ok(Math.abs(xi - x[i]) < 1e-12, `x${i} = ${xi}`));
  assert.throws(() => cholesky(Float64Array.from([1, 2, 2, 1]), 2), /positive definite/);
  // y = 3 + 2u on u = 0..9: exact without ridge; the ridge shrinks the slope only, by n*ridge/(Suu + n*ridge) after centring.
  const rows = (fn: (row: ArrayLike<number>, y: number) => void) => { for (let u = 0; u < 10; u++) fn([u, 1], 3 + 2 * u); };
  const exact = ridgeLeastSquares(2, rows, 0, 1)!;
  assert.ok(Math.abs(exact[0] - 2) < 1e-9 && Math.abs(exact[1] - 3) < 1e-9, `${exact}`);
  const ridged = ridgeLeastSquares(2, rows, 0.1, 1)!;
  const suu = 82.5; // sum of (u - 4.5)^2
  assert.ok(Math.abs(ridged[0] - (2 * suu) / (suu + 1)) < 1e-9, `slope ${ridged[0]}`);
  assert.ok(Math.abs(ridged[1] - (3 + 4.5 * (2 - ridged[0]))) < 1e-9, `intercept ${ridged[1]}`);
  assert.equal(ridgeLeastSquares(3, (fn) => { fn([1, 2, 1], 1); fn([0, 1, 1], 2); }, 0, 2), undefined, 'fewer rows than columns');
  // Slope held at 1: the intercept is the mean of y - u = 3 + u, i.e. 7.5, and the residuals are u - 4.5.
  const ne = normalEquations(2, rows);
  const held = solvePenalised(ne, [0, 0], new Map([[0, 1]]))!;
  assert.equal(held[0], 1);
  assert.ok(Math.abs(held[1] - 7.5) < 1e-9, `intercept ${held[1]}`);
  assert.ok(Math.abs(residualSumOfSquares(ne, held) - suu) < 1e-9, `residual sum of squares ${residualSumOfSquares(ne, held)}`);
  assert.ok(residualSumOfSquares(ne, exact) < 1e-9);
});

test('fitLinearMean recovers own-lag, parent and intercept coefficients and the residual scale of a linear network', () => {
  const rng = new Rng(7);
  // x0: AR(1) 0.7 around 0.3; x1 = 0.5 x1(t-1) + 2 x0(t) - 0.2 + N(0, 0.1^2).
  const s = series(20_000, 2, ([a, b]) => {
    const x0 = 0.3 + 0.7 * (a - 0.3) + rng.normal(0, 0.5);
    return [x0, 0.5 * b + 2 * x0 - 0.2 + rng.normal(0, 0.1)];
  });
  const fit = fitLinearMean(s, [[], [0]]);
  const near = (got: number, want: number, tol: number, what: string) => assert.ok(Math.abs(got - want) < tol, `${what}: ${got} vs ${want}`);
  near(fit.own[0], 0.7, 0.02, 'own lag of x0');
  near(fit.bias[0], 0.3 * 0.3, 0.02, 'intercept of x0');
  near(fit.scale[0], 0.5, 0.01, 'residual scale of x0');
  near(fit.own[1], 0.5, 0.01, 'own lag of x1');
  near(fit.parents[0 * 2 + 1], 2, 0.01, 'x0 -> x1');
  near(fit.bias[1], -0.2, 0.02, 'intercept of x1');
  near(fit.scale[1], 0.1, 0.005, 'residual scale of x1');
  assert.equal(fit.parents[1 * 2 + 0], 0, 'x1 is not a parent of x0');
});

test('fitLinearMean never fits an explosive own lag: a trending window gets exactly 1 and its drift as intercept', () => {
  const rng = new Rng(8);
  const s = series(2000, 1, ([a], t) => [t === 0 ? 1 : 1.002 * a + 0.01 + rng.normal(0, 0.01)]);
  const fit = fitLinearMean(s, [[]]);
  assert.equal(fit.own[0], 1);
  assert.ok(fit.bias[0] > 0.01, `drift ${fit.bias[0]}`);
});

test('fitLinearMean keeps a parent relation the validation steps confirm and drops one they contradict', () => {
  const rng = new Rng(9);
  const step = ([a, b]: number[]) => {
    const x0 = 0.3 + 0.7 * (a - 0.3) + rng.normal(0, 0.5);
    return [x0, 0.5 * b + 2 * x0 - 0.2 + rng.normal(0, 0.1)];
  };
  const kept = fitLinearMean(series(5000, 2, step), [[], [0]], series(1000, 2, step));
  assert.ok(kept.parentRidge[1] <= 1e-2, `ridge ${kept.parentRidge[1]}`);
  assert.ok(Math.abs(kept.parents[1] - 2) < 0.05, `x0 -> x1: ${kept.parents[1]}`);
  assert.ok(Number.isNaN(kept.parentRidge[0]), 'x0 has no parents to shrink');
  assert.deepEqual(parentRidgeCounts(kept), { [String(kept.parentRidge[1])]: 1 });

  // Training: x1 tracks a random walk x0 to 0.05. Validation: x1 wanders off on its own walk.
  const walk = () => {
    let x0 = 0;
    let x1 = 0;
    return (together: boolean) => () => {
      x0 += rng.normal(0, 0.1);
      x1 = together ? x0 + rng.normal(0, 0.05) : x1 + rng.normal(0, 0.1);
      return [x0, x1];
    };
  };
  const w = walk();
  const train = series(2000, 2, w(true));
  const validation = series(500, 2, w(false));
  const trusted = fitLinearMean(train, [[], [0]]);
  assert.ok(trusted.parents[1] > 0.8, `without validation the training relation stands: ${trusted.parents[1]}`);
  const dropped = fitLinearMean(train, [[], [0]], validation);
  assert.ok(dropped.parentRidge[1] >= 1, `ridge ${dropped.parentRidge[1]}`);
  assert.ok(Math.abs(dropped.parents[1]) < 0.1, `x0 -> x1 shrunk: ${dropped.parents[1]}`);
  assert.ok(dropped.own[1] > 0.9, `x1 follows its own last reading: ${dropped.own[1]}`);
  assert.deepEqual(parentRidgeCounts({ ...dropped, parentRidge: Float64Array.from([NaN, Infinity]) }), { drop: 1 });
});
