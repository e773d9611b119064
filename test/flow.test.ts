import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../src/flow/tf.ts';
import { ParamStore } from '../src/flow/params.ts';
import { ConditionalMAF, madeMasks, type FlowTransform } from '../src/flow/conditional-maf.ts';

before(async () => {
  await initBackend();
});

const LOG_2PI = Math.log(2 * Math.PI);

function zeroAll(store: ParamStore): void {
  for (const v of store.vars.values()) v.assign(tf.zerosLike(v));
}

function logDetByFiniteDifferences(flow: ConditionalMAF, x: number[], c: number[], eps = 1e-2): { logDet: number; jac: number[][] } {
  const D = x.length;
  const zAt = (xs: number[]) => tf.tidy(() => Array.from(flow.transform(tf.tensor2d([xs]), tf.tensor2d([c])).z.dataSync()));
  const jac: number[][] = Array.from({ length: D }, () => new Array(D).fill(0));
  for (let j = 0; j < D; j++) {
    const plus = [...x]; plus[j] += eps;
    const minus = [...x]; minus[j] -= eps;
    const zp = zAt(plus);
    const zm = zAt(minus);
    for (let i = 0; i < D; i++) jac[i][j] = (zp[i] - zm[i]) / (2 * eps);
  }
  return { logDet: Math.log(Math.abs(det(jac))), jac };
}

function det(m: number[][]): number {
  const a = m.map((r) => [...r]);
  const n = a.length;
  let d = 1;
  for (let i = 0; i < n; i++) {
    let p = i;
    for (let r = i + 1; r < n; r++) if (Math.abs(a[r][i]) > Math.abs(a[p][i])) p = r;
    if (a[p][i] === 0) return 0;
    if (p !== i) { [a[p], a[i]] = [a[i], a[p]]; d = -d; }
    d *= a[i][i];
    for (let r = i + 1; r < n; r++) {
      const f = a[r][i] / a[i][i];
      for (let k = i; k < n; k++) a[r][k] -= f * a[i][k];
    }
  }
  return d;
}

test('MADE masks: D = 1 lets no input reach the parameters; D = 3 is strictly autoregressive', () => {
  assert.ok(madeMasks(1, 16).inputMask.every((v) => v === 0));
  const D = 3, H = 9;
  const { inputMask, outputMask } = madeMasks(D, H);
  // path x_i -> hidden -> output_j exists only for i < j
  for (let i = 0; i < D; i++) for (let j = 0; j < D; j++) {
    let path = 0;
    for (let h = 0; h < H; h++) path += inputMask[i * H + h] * outputMask[h * D + j];
    if (j <= i) assert.equal(path, 0, `x${i} must not reach output ${j}`);
    else assert.ok(path > 0, `x${i} should reach output ${j}`);
  }
});

for (const transform of ['affine', 'sinh-arcsinh'] as FlowTransform[]) {
  test(`${transform}: identity flow gives the standard normal log-density`, () => {
    const store = new ParamStore(1);
    const flow = new ConditionalMAF(store, 'f', { features: 2, condition: 3, hidden: 8, blocks: 2, transform });
    zeroAll(store);
    const x = [[0.3, -1.2], [2.0, 0.5], [-0.7, 0]];
    const lp = tf.tidy(() => Array.from(flow.logProb(tf.tensor2d(x), tf.randomNormal([3, 3], 0, 1, 'float32', 3) as tf.Tensor2D).dataSync()));
    x.forEach((row, i) => {
      const expected = row.reduce((s, v) => s - 0.5 * v * v - 0.5 * LOG_2PI, 0);
      assert.ok(Math.abs(lp[i] - expected) < 1e-5, `row ${i}: ${lp[i]} vs ${expected}`);
    });
    flow.dispose(); store.dispose();
  });
}

test('affine D = 1 block with constant parameters equals the analytic Gaussian N(mu, sigma^2)', () => {
  const store = new ParamStore(1);
  const flow = new ConditionalMAF(store, 'f', { features: 1, condition: 2, hidden: 4, blocks: 1, transform: 'affine' });
  zeroAll(store);
  const mu = 1.5, sigma = 0.4;
  store.get('f.block0.b2').assign(tf.tensor1d([mu, 6 * Math.atanh(Math.log(sigma) / 6)]));
  const xs = [-1, 0, 1.5, 2.2, 5];
  const lp = tf.tidy(() => Array.from(flow.logProb(tf.tensor2d(xs, [5, 1]), tf.zeros([5, 2]) as tf.Tensor2D).dataSync()));
  xs.forEach((x, i) => {
    const expected = -0.5 * ((x - mu) / sigma) ** 2 - Math.log(sigma) - 0.5 * LOG_2PI;
    assert.ok(Math.abs(lp[i] - expected) < 1e-4, `x=${x}: ${lp[i]} vs ${expected}`);
  });
  flow.dispose(); store.dispose();
});

for (const transform of ['affine', 'sinh-arcsinh'] as FlowTransform[]) {
  test(`${transform}: log-det equals a finite-difference Jacobian (D = 3, random weights) and the Jacobian is triangular`, () => {
    const store = new ParamStore(5);
    const flow = new ConditionalMAF(store, 'f', { features: 3, condition: 4, hidden: 12, blocks: 1, transform });
    // Random, non-trivial weights everywhere (the default init starts near the identity).
    let seed = 100;
    for (const v of store.vars.values()) v.assign(tf.randomNormal(v.shape, 0, 0.5, 'float32', seed++));
    const x = [0.4, -0.9, 1.3];
    const c = [0.2, -0.5, 0.8, 0.1];
    const analytic = tf.tidy(() => flow.transform(tf.tensor2d([x]), tf.tensor2d([c])).logDet.dataSync()[0]);
    const { logDet, jac } = logDetByFiniteDifferences(flow, x, c);
    assert.ok(Math.abs(analytic - logDet) < 2e-2, `analytic ${analytic} vs finite differences ${logDet}`);
    // z_i depends on x_j only for j <= i
    for (let i = 0; i < 3; i++) for (let j = i + 1; j < 3; j++) assert.ok(Math.abs(jac[i][j]) < 1e-3, `dz${i}/dx${j} = ${jac[i][j]}`);
    flow.dispose(); store.dispose();
  });
}

test('trained on a known conditional Gaussian, the flow recovers its NLL', () => {
  // x | c ~ N(2c, (0.5 + 0.5|c|)^2), c ~ N(0, 1). Expected NLL = E[log sigma(c)] + 0.5 log 2pi + 0.5.
  const N = 2048;
  const rng = tf.randomNormal([N, 1], 0, 1, 'float32', 11) as tf.Tensor2D;
  const eps = tf.randomNormal([N, 1], 0, 1, 'float32', 12);
  const sigma = tf.add(0.5, tf.mul(0.5, tf.abs(rng)));
  const x = tf.add(tf.mul(2, rng), tf.mul(sigma, eps)) as tf.Tensor2D;
  const expected = tf.mean(tf.log(sigma)).dataSync()[0] + 0.5 * LOG_2PI + 0.5;
  const store = new ParamStore(3);
  const flow = new ConditionalMAF(store, 'f', { features: 1, condition: 1, hidden: 16, blocks: 1, transform: 'affine' });
  const opt = tf.train.adam(0.02);
  for (let i = 0; i < 600; i++) {
    opt.minimize(() => tf.neg(tf.mean(flow.logProb(x, rng))) as tf.Scalar);
  }
  const nll = tf.tidy(() => -tf.mean(flow.logProb(x, rng)).dataSync()[0]);
  assert.ok(Math.abs(nll - expected) < 0.05, `trained NLL ${nll} vs true ${expected}`);
  opt.dispose(); flow.dispose(); store.dispose();
  tf.dispose([rng, eps, sigma, x]);
});

test('conditional median (inverse at z = 0): affine blocks with known parameters give shift0 + scale0 * shift1, the shift following the condition', () => {
  const store = new ParamStore(1);
  const flow = new ConditionalMAF(store, 'f', { features: 1, condition: 2, hidden: 4, blocks: 2, transform: 'affine' });
  zeroAll(store);
  const rawLogScale = (sigma: number) => 6 * Math.atanh(Math.log(sigma) / 6);
  // Block 0: shift 2 c_0 + 1, scale 0.5; block 1: shift 3, scale 4.
  store.get('f.block0.b2').assign(tf.tensor1d([1, rawLogScale(0.5)]));
  store.get('f.block0.wco').assign(tf.tensor2d([[2, 0], [0, 0]]));
  store.get('f.block1.b2').assign(tf.tensor1d([3, rawLogScale(4)]));
  const c = [[0, 0], [1.5, -7]];
  const x = tf.tidy(() => Array.from(flow.inverse(tf.zeros([2, 1]), tf.tensor2d(c)).dataSync()));
  // z = ((x - (2 c_0 + 1)) / 0.5 - 3) / 4 = 0  <=>  x = 2 c_0 + 1 + 0.5 * 3.
  c.forEach((ci, i) => assert.ok(Math.abs(x[i] - (2 * ci[0] + 1 + 1.5)) < 1e-5, `c=${ci}: median ${x[i]}`));
  flow.dispose(); store.dispose();
});

test('conditional median, sinh-arcsinh: x = mu + sigma * sinh(skew / tail), which the flow maps to z = 0', () => {
  const store = new ParamStore(1);
  const flow = new ConditionalMAF(store, 'f', { features: 1, condition: 2, hidden: 4, blocks: 1, transform: 'sinh-arcsinh' });
  zeroAll(store);
  const mu = -0.7, sigma = 1.8, skew = 0.9, tail = 1.6;
  store.get('f.block0.b2').assign(tf.tensor1d([mu, 6 * Math.atanh(Math.log(sigma) / 6), skew, 2.5 * Math.atanh(Math.log(tail) / 2.5)]));
  const c = tf.zeros([1, 2]) as tf.Tensor2D;
  const x = tf.tidy(() => flow.inverse(tf.zeros([1, 1]), c).dataSync()[0]);
  assert.ok(Math.abs(x - (mu + sigma * Math.sinh(skew / tail))) < 1e-5, `median ${x}`);
  const z = tf.tidy(() => flow.transform(tf.tensor2d([[x]]), c).z.dataSync()[0]);
  assert.ok(Math.abs(z) < 1e-5, `z at the median: ${z}`);
  c.dispose(); flow.dispose(); store.dispose();
});

for (const transform of ['affine', 'sinh-arcsinh'] as FlowTransform[]) {
  test(`${transform}: inverse undoes transform for D = 3 with random weights (feature by feature, order reversed between blocks)`, () => {
    const store = new ParamStore(9);
    const flow = new ConditionalMAF(store, 'f', { features: 3, condition: 4, hidden: 12, blocks: 3, transform });
    // Weights as large as keep three sinh-arcsinh blocks' inverse in float32 range.
    let seed = 300;
    for (const v of store.vars.values()) v.assign(tf.randomNormal(v.shape, 0, 0.2, 'float32', seed++));
    const z = tf.tensor2d([[0, 0, 0], [0.5, -1.1, 2], [-1.5, 0.3, 0.1]]);
    const c = tf.randomNormal([3, 4], 0, 1, 'float32', 7) as tf.Tensor2D;
    const x = tf.tidy(() => flow.inverse(z, c));
    assert.ok(x.dataSync().every(Number.isFinite));
    const back = tf.tidy(() => Array.from(flow.transform(x, c).z.dataSync()));
    const want = Array.from(z.dataSync());
    x.dispose();
    back.forEach((v, i) => assert.ok(Math.abs(v - want[i]) < 1e-3, `index ${i}: ${v} vs ${want[i]}`));
    tf.dispose([z, c]); flow.dispose(); store.dispose();
  });
}
