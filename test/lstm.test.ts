import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { tf, initBackend } from '../src/flow/tf.ts';
import { lstmSequence, fusedLstmAvailable } from '../src/flow/lstm.ts';

before(async () => {
  await initBackend();
});

function run(portable: boolean) {
  process.env.GANF_PORTABLE_LSTM = portable ? '1' : '0';
  try {
    return tf.tidy(() => {
      const L = 7, N = 5, D = 2, H = 4;
      const x = tf.randomNormal([L, N, D], 0, 1, 'float32', 1) as tf.Tensor3D;
      const h0 = tf.randomNormal([N, H], 0, 0.5, 'float32', 2) as tf.Tensor2D;
      const c0 = tf.randomNormal([N, H], 0, 0.5, 'float32', 3) as tf.Tensor2D;
      const w = tf.randomNormal([D + H, 4 * H], 0, 0.5, 'float32', 4) as tf.Tensor2D;
      const b = tf.randomNormal([4 * H], 0, 0.5, 'float32', 5) as tf.Tensor1D;
      const r = tf.randomNormal([L, N, H], 0, 1, 'float32', 6);
      const f = (wv: tf.Tensor, bv: tf.Tensor) => {
        const out = lstmSequence(x, h0, c0, wv as tf.Tensor2D, bv as tf.Tensor1D);
        out.c.dispose();
        return tf.sum(tf.mul(tf.sin(out.hs), r)) as tf.Scalar;
      };
      const [gw, gb] = tf.grads(f)([w, b]);
      const out = lstmSequence(x, h0, c0, w, b);
      const c = Array.from(out.c.dataSync());
      out.c.dispose();
      return { hs: Array.from(out.hs.dataSync()), c, gw: Array.from(gw.dataSync()), gb: Array.from(gb.dataSync()) };
    });
  } finally {
    delete process.env.GANF_PORTABLE_LSTM;
  }
}

function close(a: number[], b: number[], tol: number, what: string): void {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i] - b[i]) < tol * (1 + Math.abs(b[i])), `${what}[${i}]: ${a[i]} vs ${b[i]}`);
}

test('fused native LSTM and its hand-written backward pass match tfjs autodiff of the portable cell', (t) => {
  if (!fusedLstmAvailable()) {
    t.skip('fused kernels need the native backend');
    return;
  }
  const fused = run(false);
  const portable = run(true);
  close(fused.hs, portable.hs, 1e-5, 'h');
  close(fused.c, portable.c, 1e-5, 'c');
  close(fused.gw, portable.gw, 1e-4, 'dL/dw');
  close(fused.gb, portable.gb, 1e-4, 'dL/db');
});

test('the fused path does not leak tensors', (t) => {
  if (!fusedLstmAvailable()) {
    t.skip('fused kernels need the native backend');
    return;
  }
  run(false);
  const before = tf.memory().numTensors;
  run(false);
  assert.equal(tf.memory().numTensors, before);
});
