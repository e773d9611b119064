import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../src/flow/tf.ts';
import { GanfModel, disposeState } from '../src/flow/ganf.ts';
import { scoreSeries } from '../src/scoring/batch-score.ts';
import { statefulNll } from '../src/flow/nll.ts';
import type { Series } from '../src/flow/chunks.ts';

before(async () => {
  await initBackend();
});

const K = 4;
function randomSeries(T: number, D = 1, seed = 1): Series {
  let a = seed;
  const data = new Float32Array(T * K * D).map(() => {
    a = (a * 16807) % 2147483647;
    return (a / 2147483647) * 2 - 1;
  });
  return { data, steps: T, sensors: K, features: D };
}

/** A model whose linear mean is switched on (its parameters start at zero in training). */
function model(D = 1, seed = 3): GanfModel {
  const m = new GanfModel({ sensors: K, features: D, hidden: 8, condition: 8, flowHidden: 8, flowBlocks: 2, transform: 'sinh-arcsinh' }, seed);
  for (const name of ['lin.w', 'lin.a', 'lin.b']) {
    const v = m.store.get(name);
    v.assign(tf.randomNormal(v.shape, 0, 0.5, 'float32', seed + name.length));
  }
  const s = m.store.get('lin.s');
  s.assign(tf.randomUniform(s.shape, 0.2, 2, 'float32', seed));
  return m;
}

/** A chain 0 -> 1 -> 2 -> 3 as the conditioning graph. */
function chain(): tf.Tensor2D {
  const a = new Float32Array(K * K);
  for (let k = 0; k + 1 < K; k++) a[k * K + k + 1] = 0.8;
  return tf.tensor2d(a, [K, K]);
}

test('streaming one step at a time reproduces batch scores (O(1) state per step)', () => {
  const m = model();
  const s = randomSeries(50);
  const A = chain();
  const batch = statefulNll(m, s, 16, A);
  const stepwise = statefulNll(m, s, 1, A);
  for (let i = 0; i < batch.nll.length; i++) assert.ok(Math.abs(batch.nll[i] - stepwise.nll[i]) < 1e-4, `index ${i}: ${batch.nll[i]} vs ${stepwise.nll[i]}`);
  disposeState(batch.state); disposeState(stepwise.state);
  m.dispose(); A.dispose();
});

test('scores are causal: changing the future leaves earlier scores unchanged', () => {
  const m = model();
  const A = chain();
  const s = randomSeries(40);
  const changed: Series = { ...s, data: s.data.slice() };
  for (let i = 30 * K; i < changed.data.length; i++) changed.data[i] += 3;
  for (const encoder of ['stateful', 'windowed'] as const) {
    const a = scoreSeries(m, s, { encoder, window: 8, adjacency: A });
    const b = scoreSeries(m, changed, { encoder, window: 8, adjacency: A });
    for (let t = 0; t < 30; t++) assert.equal(a.total[t], b.total[t], `${encoder}: step ${t} changed`);
    assert.notEqual(a.total[30], b.total[30]);
  }
  m.dispose(); A.dispose();
});

test('the density factorises over the DAG: a sensor depends on its parents now, never on its children now', () => {
  const m = model();
  const A = chain();
  const s = randomSeries(20);
  const t = 12;
  const nudge = (k: number): Series => {
    const d = s.data.slice();
    d[t * K + k] += 1.5;
    return { ...s, data: d };
  };
  const base = scoreSeries(m, s, { encoder: 'stateful', window: 8, adjacency: A }).perSensor;
  const parentMoved = scoreSeries(m, nudge(1), { encoder: 'stateful', window: 8, adjacency: A }).perSensor;
  // sensor 2's parent is 1: its conditional at t must change; sensor 0 (1's parent) must not.
  assert.notEqual(parentMoved[t * K + 2], base[t * K + 2]);
  assert.equal(parentMoved[t * K + 0], base[t * K + 0]);
  // sensor 3 is not a child of 1: unchanged at t
  assert.equal(parentMoved[t * K + 3], base[t * K + 3]);
  m.dispose(); A.dispose();
});

test('D > 1 features: windowed and stateful scoring agree on the first window', () => {
  const m = model(3);
  const s: Series = { ...randomSeries(30, 3), features: 3 };
  const A = chain();
  const st = scoreSeries(m, s, { encoder: 'stateful', window: 10, adjacency: A });
  const wi = scoreSeries(m, s, { encoder: 'windowed', window: 10, adjacency: A });
  // Step 9 is the first full window: both start from a zero state at step 0.
  for (let t = 0; t < 10; t++) assert.ok(Math.abs(st.total[t] - wi.total[t]) < 1e-4, `step ${t}`);
  assert.ok(Math.abs(st.total[20] - wi.total[20]) > 1e-6, 'later windows forget the start, the stateful pass does not');
  m.dispose(); A.dispose();
});

test('window score: trailing mean of the per-step NLL equals the brute-force window mean', async () => {
  const { trailingMean } = await import('../src/scoring/batch-score.ts');
  const K2 = 2, T = 9, w = 4;
  const v = Float32Array.from({ length: T * K2 }, (_, i) => Math.sin(i) * 3);
  const out = trailingMean(v, K2, w);
  for (let t = 0; t < T; t++) for (let k = 0; k < K2; k++) {
    let s = 0, n = 0;
    for (let u = Math.max(0, t - w + 1); u <= t; u++) { s += v[u * K2 + k]; n++; }
    assert.ok(Math.abs(out[t * K2 + k] - s / n) < 1e-5);
  }
});

test('window score: a glitch NLL of 1e30 leaves the window without a trace (the values summed beside it are not lost)', async () => {
  const { trailingMean } = await import('../src/scoring/batch-score.ts');
  const w = 4;
  const v = Float32Array.from([1, 2, 1e30, 3e5, 4e5, 5, 6, 7, 8, 9, 10]);
  const out = trailingMean(v, 1, w);
  for (let t = 2 + w; t < v.length; t++) {
    let s = 0;
    for (let u = t - w + 1; u <= t; u++) s += v[u];
    assert.ok(Math.abs(out[t] - s / w) < 1e-3, `step ${t}: ${out[t]} vs ${s / w}`);
  }
});

test('linear mean, closed form: with an identity flow the NLL is that of N(sum_k A_kj W_kj x_k^t + a_j x_j^(t-1) + b_j, s_j^2)', () => {
  const m = new GanfModel({ sensors: K, features: 1, hidden: 8, condition: 8, flowHidden: 8, flowBlocks: 2, transform: 'sinh-arcsinh' }, 5);
  for (const [name, v] of m.store.vars) if (name.startsWith('flow.')) v.assign(tf.zerosLike(v));
  const W = [[0, 1.5, 0, 0.7], [-2, 0, 0.5, 0], [0, 0, 0, -1], [3, 0, 0, 0]];
  const a = [0.9, -0.3, 0.5, 0];
  const b = [0.1, 0, -0.4, 0.2];
  const sd = [0.5, 2, 1, 0.1];
  m.store.get('lin.w').assign(tf.tensor2d(W));
  m.store.get('lin.s').assign(tf.tensor2d(sd, [K, 1]));
  m.store.get('lin.a').assign(tf.tensor2d(a, [K, 1]));
  m.store.get('lin.b').assign(tf.tensor2d(b, [K, 1]));
  const A = chain(); // 0 -> 1 -> 2 -> 3 with weight 0.8: only W[0][1], W[1][2], W[2][3] count
  const Av = A.arraySync();
  const s = randomSeries(10);
  const x = (t: number, k: number) => s.data[t * K + k];
  // Chunks of 3: the own-lag term must carry across chunk boundaries through the state.
  const { nll, state } = statefulNll(m, s, 3, A);
  for (let t = 0; t < s.steps; t++) {
    for (let j = 0; j < K; j++) {
      let mean = b[j] + a[j] * (t > 0 ? x(t - 1, j) : 0);
      for (let k = 0; k < K; k++) mean += Av[k][j] * W[k][j] * x(t, k);
      const r = (x(t, j) - mean) / sd[j];
      const expected = 0.5 * r * r + 0.5 * Math.log(2 * Math.PI) + Math.log(sd[j]);
      assert.ok(Math.abs(nll[t * K + j] - expected) < 1e-4, `t ${t}, sensor ${j}: ${nll[t * K + j]} vs ${expected}`);
    }
  }
  // ... and the conditional median is that mean (identity flow: z = 0 at x = mean); the same
  // with a flow that shifts: median = mean + s_j * the flow's own median.
  const conditions: Float32Array[] = [];
  statefulNll(m, s, 3, A, undefined, (_t, c) => conditions.push(c.slice()));
  const t = 7;
  const med = m.median(conditions[t], K);
  for (let j = 0; j < K; j++) {
    let mean = b[j] + a[j] * x(t - 1, j);
    for (let k = 0; k < K; k++) mean += Av[k][j] * W[k][j] * x(t, k);
    assert.ok(Math.abs(med[j] - mean) < 1e-5, `median of sensor ${j}: ${med[j]} vs ${mean}`);
  }
  let seed = 50;
  for (const [name, v] of m.store.vars) if (name.startsWith('flow.')) v.assign(tf.randomNormal(v.shape, 0, 0.5, 'float32', seed++));
  const C = m.shape.condition;
  const shifted = m.median(conditions[t], K);
  const own = tf.tidy(() => m.flow.inverse(tf.zeros([K, 1]), tf.tensor2d(conditions[t], [K, m.conditionSize]).slice([0, 0], [K, C]) as tf.Tensor2D).dataSync());
  for (let j = 0; j < K; j++) {
    assert.ok(Math.abs(own[j]) > 1e-3, 'the random flow shifts');
    assert.ok(Math.abs(shifted[j] - (med[j] + sd[j] * own[j])) < 1e-4, `shifted median of sensor ${j}: ${shifted[j]} vs ${med[j] + sd[j] * own[j]}`);
  }
  disposeState(state);
  m.dispose(); A.dispose();
});

test('weights saved before the linear mean existed load with it switched off and score as that model did; any other missing parameter is refused', () => {
  const shape = { sensors: K, features: 1, hidden: 8, condition: 8, flowHidden: 8, flowBlocks: 2, transform: 'sinh-arcsinh' as const };
  const old = new GanfModel(shape, 11); // lin.* and enc.* at their initial values: no linear mean, no clipping
  const saved = old.store.snapshot();
  for (const name of [...saved.keys()]) if (name.startsWith('lin.') || name.startsWith('enc.')) saved.delete(name);
  const loaded = new GanfModel(shape, 12);
  for (const name of ['lin.w', 'lin.a', 'lin.s']) {
    const v = loaded.store.get(name);
    v.assign(tf.randomUniform(v.shape, 0.5, 1, 'float32', 4));
  }
  loaded.store.restore(saved);
  assert.deepEqual(Array.from(loaded.store.get('lin.s').dataSync()), [1, 1, 1, 1], 'kept at its initial value, not the one assigned before');
  const A = chain();
  const s = randomSeries(30);
  const a = statefulNll(old, s, 8, A);
  const b = statefulNll(loaded, s, 8, A);
  for (let i = 0; i < a.nll.length; i++) assert.ok(Math.abs(a.nll[i] - b.nll[i]) < 1e-5, `index ${i}: ${a.nll[i]} vs ${b.nll[i]}`);
  saved.delete('gc.w2');
  assert.throws(() => loaded.store.restore(saved), /lacks parameter gc\.w2/);
  disposeState(a.state); disposeState(b.state);
  old.dispose(); loaded.dispose(); A.dispose();
});
