import { seededUniform } from '../src/util/rng.ts';
import { test, describe, before } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DirectedGraph } from 'graphology';
import { hasCycle } from 'graphology-dag';
import { tf, initBackend } from '../src/flow/tf.ts';
import {
  acyclicity,
  matrixExp,
  initialLagrangian,
  lagrangianOptions,
  update,
  countStep,
  roundComplete,
  penalty,
  DEFAULT_LAGRANGIAN,
  extractDag,
  assertDag,
  topologicalOrder,
  adjacencyFromGraph,
  parentsOf,
  graphToJSON,
  graphFromJSON,
  toDot,
  toGexf,
  breakCycles,
  parsePrior,
  type DagGraph,
  type WeightedEdge,
} from '../src/dag-learning/index.ts';
import { loadPrior } from '../src/detector.ts';

before(async () => {
  await initBackend();
  // tfjs-core on its own registers no kernel gradients; the @tensorflow/tfjs umbrella does (and
  // tfjs-node loads it, so only cpu/wasm lack them). acyclicity() needs none, having a closed-form
  // gradient, but differentiating matrixExp and the least-squares loss does.
  if (!tf.getGradient('MatMul')) createRequire(import.meta.url)('@tensorflow/tfjs');
});

// ---------------------------------------------------------------- helpers

const rng = seededUniform;

function gaussian(u: () => number): () => number {
  return () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u());
}

type Mat = number[][];
const zeros = (n: number, m = n): Mat => Array.from({ length: n }, () => new Array(m).fill(0));
const eye = (n: number): Mat => zeros(n).map((r, i) => r.map((_, j) => (i === j ? 1 : 0)));
const matmul = (a: Mat, b: Mat): Mat => a.map((r) => b[0].map((_, j) => r.reduce((s, v, k) => s + v * b[k][j], 0)));
const add = (a: Mat, b: Mat, cb = 1): Mat => a.map((r, i) => r.map((v, j) => v + cb * b[i][j]));
const scale = (a: Mat, c: number): Mat => a.map((r) => r.map((v) => v * c));
const transpose = (a: Mat): Mat => a[0].map((_, j) => a.map((r) => r[j]));

/** float64 reference exp: scaling and squaring around a 30-term Taylor series. */
function expm64(M: Mat): Mat {
  const norm = Math.max(...transpose(M).map((col) => col.reduce((s, v) => s + Math.abs(v), 0)));
  const s = norm > 0.5 ? Math.ceil(Math.log2(norm / 0.5)) : 0;
  const X = scale(M, 2 ** -s);
  let term = eye(M.length);
  let sum = eye(M.length);
  for (let k = 1; k <= 30; k++) {
    term = scale(matmul(term, X), 1 / k);
    sum = add(sum, term);
  }
  for (let i = 0; i < s; i++) sum = matmul(sum, sum);
  return sum;
}

function assertClose(actual: Mat, expected: Mat, atol: number, rtol: number, what: string): void {
  actual.forEach((row, i) =>
    row.forEach((v, j) => {
      const e = expected[i][j];
      assert.ok(Math.abs(v - e) <= atol + rtol * Math.abs(e), `${what}[${i}][${j}] = ${v}, expected ${e}`);
    }),
  );
}

const expOf = (M: Mat, squarings?: number): Mat =>
  tf.tidy(() => matrixExp(tf.tensor2d(M), squarings === undefined ? {} : { squarings }).arraySync());
const hOf = (A: Mat): number => tf.tidy(() => acyclicity(tf.tensor2d(A)).dataSync()[0]);

// ---------------------------------------------------------------- matrix exponential

describe('matrixExp', () => {
  test('diagonal: exp of each entry, including one that needs several squarings', () => {
    const d = [-2, 0, 0.5, 3, 7];
    const E = expOf(d.map((v, i) => d.map((_, j) => (i === j ? v : 0))));
    assertClose(E, d.map((v, i) => d.map((_, j) => (i === j ? Math.exp(v) : 0))), 1e-6, 2e-6, 'exp(diag)');
  });

  test('nilpotent: the series terminates, exp(N) = I + N + N²/2 + N³/6', () => {
    const N = [
      [0, 1.5, -2, 0.5],
      [0, 0, 0.7, 3],
      [0, 0, 0, -1.2],
      [0, 0, 0, 0],
    ];
    const N2 = matmul(N, N);
    const expected = add(add(add(eye(4), N), scale(N2, 1 / 2)), scale(matmul(N2, N), 1 / 6));
    assertClose(expOf(N), expected, 1e-5, 1e-5, 'exp(N)');
  });

  test('rotation generator [[0,-t],[t,0]] gives [[cos t, -sin t],[sin t, cos t]]', () => {
    for (const t of [0.3, 1.3, 5, 12]) {
      const expected = [
        [Math.cos(t), -Math.sin(t)],
        [Math.sin(t), Math.cos(t)],
      ];
      // Squaring doubles the rounding error each time: t = 12 takes 4 squarings.
      assertClose(expOf([[0, -t], [t, 0]]), expected, 2e-5, 0, `rotation t=${t}`);
    }
  });

  test('explicit squarings agree with the automatic choice; bad input is rejected', () => {
    const M = [[0.2, -1.1, 0.4], [0.9, 0.1, -0.3], [-0.5, 0.8, 0.0]];
    assertClose(expOf(M, 4), expOf(M), 1e-6, 1e-6, 'exp with s=4');
    assertClose(expOf(M), expm64(M), 1e-6, 1e-5, 'exp vs float64');
    assert.throws(() => expOf([[1, 2, 3], [4, 5, 6]]), /square/);
    assert.throws(() => expOf([[NaN, 0], [0, 0]]), /non-finite/);
    assert.throws(() => expOf(M, -1), /squarings/);
  });

  test('is differentiable by tf.grad: d tr(exp(M)) / dM = exp(M)^T', () => {
    const M = [[0.2, -1.1, 0.4], [0.9, 0.1, -0.3], [-0.5, 0.8, 1.7]];
    const g = tf.tidy(() =>
      tf.grad((m: tf.Tensor) => tf.sum(tf.mul(matrixExp(m as tf.Tensor2D), tf.eye(3))))(tf.tensor2d(M)).arraySync() as Mat,
    );
    assertClose(g, transpose(expm64(M)), 1e-5, 1e-5, 'grad tr exp');
  });
});

// ---------------------------------------------------------------- acyclicity

describe('acyclicity', () => {
  test('is exactly 0 on a DAG (any node order), and so is its gradient', () => {
    const u = rng(1);
    const K = 12;
    const perm = Array.from({ length: K }, (_, i) => i).sort(() => u() - 0.5);
    const A = zeros(K);
    for (let a = 0; a < K; a++) for (let b = a + 1; b < K; b++) if (u() < 0.5) A[perm[a]][perm[b]] = 0.2 + 1.5 * u();
    assert.equal(hOf(A), 0);
    const g = tf.tidy(() => tf.grad((a: tf.Tensor) => acyclicity(a as tf.Tensor2D))(tf.tensor2d(A)).arraySync() as Mat);
    assert.ok(g.flat().every((v) => v === 0));
  });

  test('is positive on cycles and matches closed forms', () => {
    // 2-cycle: A∘A = [[0,a²],[b²,0]] has eigenvalues ±ab, so h = 2cosh(ab) − 2.
    const [a, b] = [0.7, 1.3];
    assert.ok(Math.abs(hOf([[0, a], [b, 0]]) - (2 * Math.cosh(a * b) - 2)) < 1e-6);
    // 3-cycle: (A∘A)³ = p·I with p = (abc)², so h = 3 Σ_{m≥1} p^m / (3m)!.
    const c = 0.9;
    const p = (a * b * c) ** 2;
    let expected = 0;
    for (let m = 1, f = 1, k = 1; m < 8; m++) {
      for (; k <= 3 * m; k++) f *= k;
      expected += (3 * p ** m) / f;
    }
    const h3 = hOf([[0, a, 0], [0, 0, b], [c, 0, 0]]);
    assert.ok(Math.abs(h3 - expected) < 1e-7 + 1e-5 * expected, `h = ${h3}, expected ${expected}`);
    // A self-loop is a cycle too, and a tiny cycle is still resolved (no cancellation against K).
    assert.ok(Math.abs(hOf([[0.1, 0], [0, 0]]) - (Math.exp(0.01) - 1)) < 1e-9);
    const tiny = hOf([[0, 1e-3, 0], [0, 0, 1e-3], [1e-3, 0, 0]]);
    assert.ok(tiny > 0 && Math.abs(tiny - 3 * 1e-18 / 6) < 1e-23, `tiny 3-cycle h = ${tiny}`);
  });

  test('gradient matches central finite differences and the float64 analytic (exp(A∘A))^T ∘ 2A', () => {
    const u = rng(7);
    const K = 5;
    const A = zeros(K).map((r) => r.map(() => (u() < 0.6 ? 0.1 + 0.6 * u() : 0)));
    const g = tf.tidy(() => tf.grad((x: tf.Tensor) => acyclicity(x as tf.Tensor2D))(tf.tensor2d(A)).arraySync() as Mat);
    const B = A.map((r) => r.map((v) => v * v));
    const analytic = transpose(expm64(B)).map((r, i) => r.map((v, j) => v * 2 * A[i][j]));
    assertClose(g, analytic, 1e-6, 1e-5, 'grad vs analytic');
    // float32 h ~ O(1): rounding error ~ 6e-8·h/eps, truncation ~ eps²·h'''/6; eps = 5e-3 balances them.
    const eps = 5e-3;
    const fd = A.map((r, i) =>
      r.map((_, j) => {
        const plus = A.map((row) => [...row]);
        const minus = A.map((row) => [...row]);
        plus[i][j] += eps;
        minus[i][j] -= eps;
        return (hOf(plus) - hOf(minus)) / (2 * eps);
      }),
    );
    assertClose(g, fd, 5e-4, 5e-3, 'grad vs finite differences');
    // and tf.grad straight through matrixExp agrees with the closed-form gradient
    const auto = tf.tidy(() =>
      tf.grad((x: tf.Tensor) => tf.sum(tf.mul(matrixExp(tf.square(x as tf.Tensor2D)), tf.eye(K))))(tf.tensor2d(A)).arraySync() as Mat,
    );
    assertClose(g, auto, 1e-6, 1e-5, 'custom vs autodiff grad');
  });

  test('leaks no tensors, inside or outside tf.grad', () => {
    const A = tf.tensor2d([[0, 0.5, 0], [0, 0, 0.7], [0.9, 0, 0]]);
    const before = tf.memory().numTensors;
    acyclicity(A).dispose();
    tf.grad((x: tf.Tensor) => acyclicity(x as tf.Tensor2D))(A).dispose();
    assert.equal(tf.memory().numTensors, before);
    A.dispose();
    assert.throws(() => acyclicity(tf.zeros([2, 3]) as tf.Tensor2D), /square/);
  });
});

// ---------------------------------------------------------------- augmented Lagrangian

describe('augmented-Lagrangian schedule', () => {
  test('follows the rule on a toy sequence of h values', () => {
    const o = lagrangianOptions();
    let s = initialLagrangian(o);
    assert.deepEqual(s, { rho: 1, alpha: 0, hPrev: Infinity, stepsInRound: 0, done: false });
    const trace: [number, number, boolean][] = [];
    for (const h of [1, 0.5, 0.1, 0.09, 0.01, 1e-9]) {
      s = update(s, h, o);
      trace.push([s.rho, s.alpha, s.done]);
      assert.equal(s.hPrev, h);
    }
    const expected: [number, number, boolean][] = [
      [1, 1, false], // first round: nothing to compare with
      [10, 6, false], // 0.5 > 0.25·1: rho ×10, alpha += 10·0.5
      [10, 7, false], // 0.1 ≤ 0.25·0.5: enough progress
      [100, 16, false], // 0.09 > 0.025
      [100, 17, false], // 0.01 ≤ 0.0225
      [100, 17 + 1e-7, true], // h ≤ hTol
    ];
    trace.forEach((t, i) => {
      assert.equal(t[0], expected[i][0], `round ${i} rho`);
      assert.ok(Math.abs(t[1] - expected[i][1]) < 1e-12, `round ${i} alpha ${t[1]}`);
      assert.equal(t[2], expected[i][2], `round ${i} done`);
    });
    assert.equal(update(s, 0.5, o), s, 'done is absorbing');
  });

  test('stops at rhoMax when h stalls, never exceeding it', () => {
    const o = lagrangianOptions({ rhoMax: 500 });
    let s = initialLagrangian(o);
    const rhos: number[] = [];
    while (!s.done) {
      s = update(s, 0.3, o);
      rhos.push(s.rho);
    }
    assert.deepEqual(rhos, [1, 10, 100, 500]);
  });

  test('counts optimiser steps into rounds', () => {
    const o = lagrangianOptions({ stepsPerRound: 3 });
    let s = initialLagrangian(o);
    const ends: boolean[] = [];
    for (let i = 0; i < 7; i++) {
      s = countStep(s);
      ends.push(roundComplete(s, o));
      if (roundComplete(s, o)) s = update(s, 0.5 / (i + 1), o);
    }
    assert.deepEqual(ends, [false, false, true, false, false, true, false]);
    assert.equal(s.stepsInRound, 1);
  });

  test('penalty as a number and as a tf op; invalid input rejected', () => {
    const s = { rho: 10, alpha: 3 };
    assert.equal(penalty(s, 0.2), 0.5 * 10 * 0.04 + 3 * 0.2);
    const t = tf.tidy(() => penalty(s, tf.scalar(0.2)).dataSync()[0]);
    assert.ok(Math.abs(t - 0.8) < 1e-6);
    const dp = tf.tidy(() => tf.grad((h: tf.Tensor) => penalty(s, h as tf.Scalar))(tf.scalar(0.2)).dataSync()[0]);
    assert.ok(Math.abs(dp - (10 * 0.2 + 3)) < 1e-5, 'd penalty / dh = rho·h + alpha');
    assert.throws(() => update(initialLagrangian(), NaN), /finite/);
    assert.throws(() => update(initialLagrangian(), Infinity), /finite/);
    assert.throws(() => lagrangianOptions({ rhoFactor: 1 }), /rhoFactor/);
    assert.throws(() => lagrangianOptions({ progressFraction: 1.5 }), /progressFraction/);
    assert.throws(() => lagrangianOptions({ stepsPerRound: 2.5 }), /stepsPerRound/);
    assert.equal(DEFAULT_LAGRANGIAN.hTol, 1e-6);
  });

  test('end to end: NOTEARS least squares recovers a 5-node linear SEM', () => {
    // x_j = Σ_k W[k][j] x_k + N(0, 1) on a known DAG (row = parent, column = child).
    const names = ['a', 'b', 'c', 'd', 'e'];
    const K = 5;
    const W = zeros(K);
    W[0][1] = 1.0;
    W[0][2] = 0.8;
    W[1][3] = 1.2;
    W[2][3] = 0.9;
    W[3][4] = 1.1;
    const n = 400;
    const z = gaussian(rng(42));
    const X: Mat = [];
    for (let r = 0; r < n; r++) {
      const x = new Array(K).fill(0);
      for (const j of [0, 1, 2, 3, 4]) x[j] = z() + x.reduce((s, v, k) => s + v * W[k][j], 0);
      X.push(x);
    }

    const options = lagrangianOptions({ stepsPerRound: 50 });
    let state = initialLagrangian(options);
    const lambda = 0.02;
    const result = tf.tidy(() => {
      // ||X − XW||²/2n = tr((I − W)ᵀ S (I − W))/2 with S = XᵀX/n: the loop then only touches K×K.
      const Xt = tf.tensor2d(X);
      const S = tf.div(tf.matMul(Xt, Xt, true, false), n);
      const I = tf.eye(K);
      const mask = tf.sub(tf.ones([K, K]), I);
      const A = tf.variable(tf.zeros([K, K]));
      const opt = tf.train.adam(0.03);
      let rounds = 0;
      while (!state.done && rounds < 30) {
        for (let i = 0; i < options.stepsPerRound; i++) {
          tf.tidy(() => {
            opt.minimize(() => {
              const Wt = tf.mul(A, mask) as tf.Tensor2D;
              const IW = tf.sub(I, Wt);
              const ls = tf.mul(0.5, tf.sum(tf.mul(IW, tf.matMul(S, IW))));
              return tf.addN([ls, tf.mul(lambda, tf.sum(Wt)), penalty(state, acyclicity(Wt))]) as tf.Scalar;
            }, false, [A]);
            // Projected Adam keeps W = A non-negative; reverse edges then sit at (or near) 0.
            A.assign(tf.mul(tf.relu(A), mask));
          });
          state = countStep(state);
        }
        state = update(state, tf.tidy(() => acyclicity(A as tf.Tensor2D).dataSync()[0]), options);
        rounds++;
      }
      opt.dispose();
      const learned = A.arraySync() as Mat;
      A.dispose();
      return { learned, rounds };
    });
    assert.ok(state.done, `schedule did not finish in ${result.rounds} rounds (rho ${state.rho}, h ${state.hPrev})`);
    assert.ok(state.hPrev < 1e-4, `h = ${state.hPrev}`);
    const g = extractDag(result.learned, names, { threshold: 0.3 });
    const edges = g.mapEdges((_e, _a, s, t) => `${s}->${t}`).sort();
    assert.deepEqual(edges, ['a->b', 'a->c', 'b->d', 'c->d', 'd->e']);
    for (const [k, j] of [[0, 1], [0, 2], [1, 3], [2, 3], [3, 4]]) {
      assert.ok(Math.abs(result.learned[k][j] - W[k][j]) < 0.2, `W[${k}][${j}] = ${result.learned[k][j]}`);
    }
  });
});

// ---------------------------------------------------------------- extraction

function edgeList(g: DagGraph): string[] {
  return g.mapEdges((_e, a, s, t) => `${s}->${t}:${a.weight}`).sort();
}

function reaches(es: readonly WeightedEdge[], src: number, dst: number): boolean {
  const seen = new Set([src]);
  const stack = [src];
  while (stack.length) {
    const u = stack.pop()!;
    for (const e of es) {
      if (e.from !== u || seen.has(e.to)) continue;
      if (e.to === dst) return true;
      seen.add(e.to);
      stack.push(e.to);
    }
  }
  return false;
}

const byStrength = (a: WeightedEdge, b: WeightedEdge) => b.weight - a.weight || a.from - b.from || a.to - b.to;

describe('breakCycles', () => {
  test('drops the weakest edge of each cycle and nothing else', () => {
    // a↔b (weakest b→a) and a→b→c→a (weakest c→a); d→a is on no cycle.
    const e = (from: number, to: number, weight: number) => ({ from, to, weight });
    const key = (es: WeightedEdge[]) => es.map((x) => `${x.from}-${x.to}`).sort();
    assert.deepEqual(key(breakCycles(4, [e(0, 1, 0.9), e(1, 0, 0.3), e(1, 2, 0.8), e(2, 0, 0.4), e(3, 0, 0.1)])), ['0-1', '1-2', '3-0']);
    // Dropping the globally weakest on-cycle edge first would lose c→b needlessly.
    assert.deepEqual(key(breakCycles(3, [e(0, 1, 0.9), e(1, 0, 0.8), e(0, 2, 0.7), e(2, 1, 0.5)])), ['0-1', '0-2', '2-1']);
  });

  test('random graphs: acyclic, maximal, each drop the weakest edge of a cycle, off-cycle edges kept', () => {
    const u = rng(3);
    for (let trial = 0; trial < 60; trial++) {
      const K = 3 + Math.floor(u() * 8);
      const edges: WeightedEdge[] = [];
      for (let i = 0; i < K; i++) for (let j = 0; j < K; j++) if (i !== j && u() < 0.35) edges.push({ from: i, to: j, weight: Math.round(u() * 20) / 20 });
      const kept = breakCycles(K, edges);
      const dropped = edges.filter((e) => !kept.includes(e));
      assert.ok(kept.every((e) => !reaches(kept, e.to, e.from)), `trial ${trial}: cycle left`);
      for (const d of dropped) {
        const stronger = kept.filter((e) => byStrength(e, d) < 0);
        assert.ok(reaches(stronger, d.to, d.from), `trial ${trial}: ${d.from}->${d.to} closes no cycle of stronger kept edges`);
        assert.ok(reaches(edges, d.to, d.from), `trial ${trial}: dropped an edge on no cycle`);
      }
    }
  });

  test('rejects self-loops', () => {
    assert.throws(() => breakCycles(2, [{ from: 1, to: 1, weight: 1 }]), /self-loop at node 1/);
  });
});

describe('extractDag and graph helpers', () => {
  const names = ['a', 'b', 'c', 'd'];

  test('row = parent, column = child; threshold inclusive; diagonal ignored', () => {
    const w = [
      [5, 0.5, 0, 0],
      [0, 0, 0.2, 0.1],
      [0, 0, 0, 0],
      [0, 0, 0.3, 0],
    ];
    const g = extractDag(w, names, { threshold: 0.2 });
    assert.deepEqual(edgeList(g), ['a->b:0.5', 'b->c:0.2', 'd->c:0.3']);
    assert.deepEqual(parentsOf(g, 'c'), ['b', 'd']);
    assert.equal(g.getNodeAttribute('d', 'index'), 3);
    assert.throws(() => parentsOf(g, 'zz'), /unknown sensor "zz"/);
    const adj = adjacencyFromGraph(g, names);
    assert.deepEqual(Array.from(adj), [0, 0.5, 0, 0, 0, 0, 0.2, 0, 0, 0, 0, 0, 0, 0, 0.3, 0].map((v) => Math.fround(v)));
  });

  test('breaks cycles, and the topological order follows the edges', () => {
    const w = [
      [0, 0.9, 0, 0],
      [0.3, 0, 0.8, 0],
      [0.4, 0, 0, 0],
      [0.1, 0, 0, 0],
    ];
    const g = extractDag(w, names, { threshold: 0.05 });
    assert.deepEqual(edgeList(g), ['a->b:0.9', 'b->c:0.8', 'd->a:0.1']);
    assert.deepEqual(topologicalOrder(g), ['d', 'a', 'b', 'c']);
  });

  test('maxParents keeps the strongest parents, before cycle breaking', () => {
    // b has parents a 0.9, c 0.95, d 0.96; with maxParents 2 a→b goes, which also breaks a↔b,
    // so the weaker b→a survives.
    const w = [
      [0, 0.9, 0, 0],
      [0.5, 0, 0, 0],
      [0, 0.95, 0, 0],
      [0, 0.96, 0, 0],
    ];
    const g = extractDag(w, names, { threshold: 0.1, maxParents: 2 });
    assert.deepEqual(edgeList(g), ['b->a:0.5', 'c->b:0.95', 'd->b:0.96']);
  });

  test('validates its input', () => {
    const w = zeros(4);
    assert.throws(() => extractDag(w, names, { threshold: 0 }), /threshold/);
    assert.throws(() => extractDag(w, ['a', 'b', 'c'], { threshold: 0.1 }), /4 rows for 3 sensors/);
    assert.throws(() => extractDag(w, ['a', 'b', 'a', 'd'], { threshold: 0.1 }), /duplicate sensor name "a"/);
    const bad = zeros(4);
    bad[1][2] = NaN;
    assert.throws(() => extractDag(bad, names, { threshold: 0.1 }), /weights\[1\]\[2\] \(b -> c\) is NaN/);
    assert.throws(() => extractDag(w, names, { threshold: 0.1, maxParents: -1 }), /maxParents/);
  });

  test('a dense 250-sensor matrix becomes a DAG quickly', () => {
    const u = rng(11);
    const K = 250;
    const w = zeros(K).map((r) => r.map(() => u()));
    const names250 = Array.from({ length: K }, (_, i) => `s${i}`);
    const t0 = performance.now();
    const g = extractDag(w, names250, { threshold: 0.5 });
    const ms = performance.now() - t0;
    assert.equal(hasCycle(g), false);
    // ~31k edges pass the threshold; a maximal acyclic subset keeps a good share of them.
    assert.ok(g.size > 10000, `kept ${g.size} edges`);
    assert.ok(ms < 5000, `took ${ms.toFixed(0)} ms`);
  });

  test('assertDag / topologicalOrder reject cycles and name one', () => {
    const g: DagGraph = new DirectedGraph();
    ['x', 'y', 'z'].forEach((n, index) => g.addNode(n, { index }));
    g.addEdge('x', 'y', { weight: 1 });
    g.addEdge('y', 'z', { weight: 1 });
    assert.doesNotThrow(() => assertDag(g));
    assert.deepEqual(topologicalOrder(g), ['x', 'y', 'z']);
    g.addEdge('z', 'x', { weight: 1 });
    assert.throws(() => assertDag(g), /cycle x -> y -> z -> x/);
    assert.throws(() => topologicalOrder(g), /not acyclic/);
  });

  test('JSON round trip, with validation', () => {
    const w = [
      [0, 0.5, 0.7, 0],
      [0, 0, 0.2, 0],
      [0, 0, 0, 0.9],
      [0, 0, 0, 0],
    ];
    const g = extractDag(w, names, { threshold: 0.1 });
    const json = JSON.parse(JSON.stringify(graphToJSON(g)));
    const back = graphFromJSON(json, names);
    assert.deepEqual(edgeList(back), edgeList(g));
    assert.deepEqual(Array.from(adjacencyFromGraph(back, names)), Array.from(adjacencyFromGraph(g, names)));

    const withCycle = structuredClone(json);
    withCycle.edges.push({ source: 'd', target: 'a', attributes: { weight: 1 } });
    assert.throws(() => graphFromJSON(withCycle), /not acyclic: cycle/);
    assert.throws(() => graphFromJSON(json, ['a', 'b', 'c']), /unknown sensor "d"/);
    assert.throws(() => graphFromJSON(json, ['b', 'a', 'c', 'd']), /index 0 but is sensor 1/);
    const undirected = structuredClone(json);
    undirected.edges[0].undirected = true;
    assert.throws(() => graphFromJSON(undirected), /undirected/);
    const noWeight = structuredClone(json);
    delete noWeight.edges[0].attributes.weight;
    assert.throws(() => graphFromJSON(noWeight), /weight/);
    const dangling = structuredClone(json);
    dangling.edges[0].target = 'q';
    assert.throws(() => graphFromJSON(dangling), /target "q" is not a node/);
    assert.throws(() => graphFromJSON(null), /object/);
  });

  test('DOT and GEXF exports escape sensor names', () => {
    const odd = ['a"b', 'c\\d', 'x<y&z', "it's\nnew"];
    const w = [
      [0, 0.5, 0, 0],
      [0, 0, 0.25, 0],
      [0, 0, 0, 1],
      [0, 0, 0, 0],
    ];
    const g = extractDag(w, odd, { threshold: 0.1 });
    const dot = toDot(g);
    assert.match(dot, /^digraph "ganf" \{/);
    assert.ok(dot.includes('"a\\"b" -> "c\\\\d" [label="0.5"'), dot);
    assert.ok(dot.includes('"x<y&z" -> "it\'s\\nnew" [label="1", penwidth=4.00]'), dot);
    assert.equal(dot.split('\n').filter((l) => l.includes('->')).length, 3);

    const gexf = toGexf(g);
    assert.ok(gexf.includes('<node id="a&quot;b" label="a&quot;b">'));
    assert.ok(gexf.includes('<edge id="1" source="c\\d" target="x&lt;y&amp;z" weight="0.25"/>'), gexf);
    assert.ok(gexf.includes('target="it&apos;s&#10;new"'));
    assert.ok(!/<[^>]*[<&](?!amp;|lt;|gt;|quot;|apos;|#)/.test(gexf.replace(/^<\?xml[^>]*>/, '')), 'no raw < or & inside tags');
    const ctrl = extractDag([[0, 1], [0, 0]], ['ok', 'bad\u0001'], { threshold: 0.5 });
    assert.throws(() => toGexf(ctrl), /XML cannot represent/);
  });
});

// ---------------------------------------------------------------- prior topology

describe('prior topology', () => {
  const S = ['p', 'q', 'r', 's'];
  const at = (m: Float32Array, from: string, to: string) => m[S.indexOf(from) * S.length + S.indexOf(to)];
  const allowed = (m: Float32Array) => {
    const out: string[] = [];
    for (const a of S) for (const b of S) if (at(m, a, b)) out.push(`${a}${b}`);
    return out;
  };

  test('edge list: header, weights, undirected by default, directed on request', () => {
    const csv = 'source,target,weight\np,q,0.5\nq,r\n# comment\n\nr,r,1\n';
    const und = parsePrior(csv, S, { format: 'edges' });
    assert.equal(und.mode, 'restrict');
    assert.equal(und.init, undefined);
    assert.deepEqual(allowed(und.mask!), ['pq', 'qp', 'qr', 'rq']);
    assert.equal(und.pairs, 4);
    const dir = parsePrior(csv, S, { format: 'edges', directed: true });
    assert.deepEqual(allowed(dir.mask!), ['pq', 'qr']);
    const init = parsePrior(csv, S, { format: 'edges', mode: 'init' });
    assert.equal(init.mask, undefined);
    assert.equal(at(init.init!, 'p', 'q'), 0.5);
    assert.equal(at(init.init!, 'q', 'p'), 0.5);
    assert.equal(at(init.init!, 'r', 'q'), 1);
    assert.equal(at(init.init!, 'r', 'r'), 0);
  });

  test('hops also allows k-hop neighbours', () => {
    const chain = 'p,q\nq,r\nr,s\n';
    assert.deepEqual(allowed(parsePrior(chain, S, { format: 'edges', directed: true, hops: 2 }).mask!), ['pq', 'pr', 'qr', 'qs', 'rs']);
    assert.equal(parsePrior(chain, S, { format: 'edges', hops: 3 }).pairs, 12);
    assert.throws(() => parsePrior(chain, S, { format: 'edges', hops: 0 }), /hops/);
  });

  test('edge-list errors name the line and the unknown sensor or bad weight', () => {
    assert.throws(() => parsePrior('p,q\nq,zz\n', S, { format: 'edges' }), /line 2: unknown sensor "zz"/);
    assert.throws(() => parsePrior('p,q,-1\n', S, { format: 'edges' }), /line 1: weight must be a positive number \(got "-1"\)/);
    assert.throws(() => parsePrior('p,q,1,2\n', S, { format: 'edges' }), /line 1: expected source,target\[,weight\]/);
    assert.throws(() => parsePrior('p,"q\n', S, { format: 'edges' }), /unterminated/);
  });

  test('adjacency matrix: positional, with a header, with row labels; diagonal ignored', () => {
    const plain = '1,0.5,0,0\n0.5,1,0,0\n0,0,1,0.2\n0,0,0.2,1\n';
    assert.deepEqual(allowed(parsePrior(plain, S).mask!), ['pq', 'qp', 'rs', 'sr']);
    // asymmetric matrix, directed: row = parent
    const asym = '0,0.5,0,0\n0,0,0,0\n0,0,0,0\n0,0,0,0\n';
    assert.deepEqual(allowed(parsePrior(asym, S, { directed: true }).mask!), ['pq']);
    const header = 's,r,q,p\n0,0,0,0.7\n0,0,0,0\n0,0,0,0\n0,0,0,0\n';
    const h = parsePrior(header, S, { directed: true, mode: 'init' });
    assert.equal(at(h.init!, 's', 'p'), Math.fround(0.7));
    assert.equal(h.pairs, 1);
    const labelled = ',p,q,r,s\nq,0,0,0,0\np,0,0,0.3,0\nr,0,0,0,0\ns,0,0,0,0\n';
    assert.deepEqual(allowed(parsePrior(labelled, S, { directed: true }).mask!), ['pr']);
  });

  test('adjacency-matrix errors name the row', () => {
    assert.throws(() => parsePrior('0,1,0,0\n1,0,0\n0,0,0,0\n0,0,0,0\n', S), /line 2: row has 3 values; expected 4/);
    assert.throws(() => parsePrior('0,1,0,0\n1,0,x,0\n0,0,0,0\n0,0,0,0\n', S), /line 2, column 3: expected a non-negative number \(got "x"\)/);
    assert.throws(() => parsePrior('0,1,0,0\n1,0,0,0\n', S), /has 2 rows; expected 4/);
    assert.throws(() => parsePrior('p,q,zz,s\n0,0,0,0\n0,0,0,0\n0,0,0,0\n0,0,0,0\n', S), /unknown sensor "zz" in the header/);
    assert.throws(() => parsePrior('0,1,0,0\n', S, { format: 'csv' as 'edges' }), /format/);
  });

  test('loadPrior reads a file and names it in errors', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ganf-prior-'));
    try {
      const good = join(dir, 'good.csv');
      writeFileSync(good, 'p,q,2\n');
      const prior = await loadPrior({ path: good, format: 'edges', mode: 'init' }, S);
      assert.equal(at(prior.init!, 'q', 'p'), 2);
      const bad = join(dir, 'bad.csv');
      writeFileSync(bad, 'p,q\nq,nope\n');
      await assert.rejects(loadPrior({ path: bad, format: 'edges' }, S), (err: Error) => {
        assert.equal(err.message, `prior ${bad}: line 2: unknown sensor "nope"`);
        return true;
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  const losDir = fileURLToPath(new URL('../../shared/data/los-loop/', import.meta.url));
  test('reads the los-loop road adjacency (207×207, no header, los_speed column order)', { skip: !existsSync(losDir + 'los_adj.csv') && 'shared data not present' }, async () => {
    const sensors = readFileSync(losDir + 'los_speed.csv', 'utf8').split(/\r?\n/)[0].split(',');
    assert.equal(sensors.length, 207);
    const prior = await loadPrior({ path: losDir + 'los_adj.csv', format: 'matrix' }, sensors);
    const m = prior.mask!;
    assert.equal(prior.pairs, 2626);
    for (let i = 0; i < 207; i++) {
      assert.equal(m[i * 207 + i], 0);
      for (let j = 0; j < 207; j++) assert.equal(m[i * 207 + j], m[j * 207 + i]);
    }
    const two = await loadPrior({ path: losDir + 'los_adj.csv', format: 'matrix', hops: 2 }, sensors);
    assert.ok(two.pairs > prior.pairs);
  });
});
