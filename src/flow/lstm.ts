// The shared LSTM over a whole chunk, time-major: x [L, N, D] -> h [L, N, H].
//
// Gate layout of w [(D+H), 4H] and b [4H] is (i, g, f, o), TensorFlow's LSTMBlockCell order, so
// one set of weights runs on both paths:
// - native (tfjs-node): one fused LSTMBlockCell kernel per step, and a hand-written backward pass
//   (LSTMBlockCellGrad per step, one big matMul for the weight gradient). Autodiff through the
//   ~13 small ops of a cell costs several times more on this backend.
// - portable (wasm/cpu): plain tfjs ops, differentiated by tfjs.
// Truncated BPTT: no gradient flows into the initial state.
import { tf, activeBackend } from './tf.ts';

export interface LstmResult {
  /** Hidden state at every step, [L, N, H]. */
  hs: tf.Tensor3D;
  /** Final cell state [N, H]: detached (no gradient) and kept, so the caller owns and disposes it. */
  c: tf.Tensor2D;
}

interface NativeBackend {
  binding: { TF_ATTR_FLOAT: number; TF_ATTR_BOOL: number; TF_ATTR_TYPE: number; TF_FLOAT: number };
  executeMultipleOutputs(name: string, attrs: unknown[], inputs: tf.Tensor[], n: number): tf.Tensor[];
}

let nativeChecked: boolean | undefined;

/** Whether the fused kernels are usable (native backend and the op exists in this libtensorflow). */
export function fusedLstmAvailable(): boolean {
  if (activeBackend() !== 'tensorflow' || process.env.GANF_PORTABLE_LSTM === '1') return false;
  if (nativeChecked === undefined) {
    try {
      tf.tidy(() => {
        const z = tf.zeros([1, 1]) as tf.Tensor2D;
        const be = native();
        cellForward(be, cellAttrs(be), tf.zeros([1, 1]) as tf.Tensor2D, z, z, tf.zeros([2, 4]) as tf.Tensor2D, tf.zeros([4]) as tf.Tensor1D, tf.zeros([1]) as tf.Tensor1D);
      });
      nativeChecked = true;
    } catch {
      nativeChecked = false;
    }
  }
  return nativeChecked;
}

export function lstmSequence(x: tf.Tensor3D, h0: tf.Tensor2D, c0: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D): LstmResult {
  return fusedLstmAvailable() ? fusedSequence(x, h0, c0, w, b) : portableSequence(x, h0, c0, w, b);
}

function portableSequence(x: tf.Tensor3D, h0: tf.Tensor2D, c0: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D): LstmResult {
  const [L, N, D] = x.shape;
  const H = h0.shape[1];
  const wx = w.slice([0, 0], [D, 4 * H]);
  const wh = w.slice([D, 0], [H, 4 * H]);
  // Input projection (and bias) for all steps at once; one [N,H]x[H,4H] matMul per step.
  const proj = tf.add(tf.matMul(x.reshape([L * N, D]), wx), b).reshape([L, N, 4 * H]);
  const steps = tf.unstack(proj) as tf.Tensor2D[];
  let h = h0;
  let c = c0;
  const hs: tf.Tensor2D[] = [];
  for (let t = 0; t < L; t++) {
    const z = tf.add(steps[t], tf.matMul(h, wh));
    const [i, g, f, o] = tf.split(z, 4, 1) as tf.Tensor2D[];
    c = tf.add(tf.mul(tf.sigmoid(f), c), tf.mul(tf.sigmoid(i), tf.tanh(g)));
    h = tf.mul(tf.sigmoid(o), tf.tanh(c));
    hs.push(h);
  }
  return { hs: tf.stack(hs) as tf.Tensor3D, c: tf.keep(c.clone()) };
}

function native(): NativeBackend {
  return tf.backend() as unknown as NativeBackend;
}

const CELL_OUTPUTS = 7; // i, cs, f, o, ci, co, h

function cellAttrs(be: NativeBackend): unknown[] {
  return [
    { name: 'forget_bias', type: be.binding.TF_ATTR_FLOAT, value: 0 },
    { name: 'cell_clip', type: be.binding.TF_ATTR_FLOAT, value: -1 },
    { name: 'use_peephole', type: be.binding.TF_ATTR_BOOL, value: false },
    { name: 'T', type: be.binding.TF_ATTR_TYPE, value: be.binding.TF_FLOAT },
  ];
}

function cellForward(be: NativeBackend, attrs: unknown[], x: tf.Tensor2D, c: tf.Tensor2D, h: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, peep: tf.Tensor1D): tf.Tensor[] {
  return be.executeMultipleOutputs('LSTMBlockCell', attrs, [x, c, h, w, peep, peep, peep, b], CELL_OUTPUTS);
}

function fusedSequence(x: tf.Tensor3D, h0: tf.Tensor2D, c0: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D): LstmResult {
  const be = native();
  const [L, N, D] = x.shape;
  const H = h0.shape[1];
  let lastC: tf.Tensor2D | undefined;
  const run = tf.customGrad((...args: unknown[]) => {
    const [xs, wt, bt, save] = args as [tf.Tensor3D, tf.Tensor2D, tf.Tensor1D, (t: tf.Tensor[]) => void];
    const xsteps = tf.unstack(xs) as tf.Tensor2D[];
    const peep = tf.zeros([H]) as tf.Tensor1D;
    const attrs = cellAttrs(be);
    let h = h0;
    let c = c0;
    const hs: tf.Tensor2D[] = [];
    const saved: tf.Tensor[] = [wt, bt, xs, h0, peep];
    for (let t = 0; t < L; t++) {
      const out = cellForward(be, attrs, xsteps[t], c, h, wt, bt, peep);
      // Step t's inputs (x, c_prev, h_prev) then its 6 gate/cell outputs.
      saved.push(xsteps[t], c, h, out[0], out[1], out[2], out[3], out[4], out[5]);
      c = out[1] as tf.Tensor2D;
      h = out[6] as tf.Tensor2D;
      hs.push(h);
    }
    lastC = tf.keep(c.clone());
    const value = tf.stack(hs) as tf.Tensor3D;
    saved.push(value);
    save(saved);
    // The backward pass may run after the forward's scope is gone: it uses saved tensors only.
    const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [wt, bt, xs, h0, peep] = saved as [tf.Tensor2D, tf.Tensor1D, tf.Tensor3D, tf.Tensor2D, tf.Tensor1D];
      const hsAll = saved[saved.length - 1] as tf.Tensor3D;
      const s = saved.slice(5, saved.length - 1);
      const dys = tf.unstack(dy) as tf.Tensor2D[];
      const attrs = [
        { name: 'use_peephole', type: be.binding.TF_ATTR_BOOL, value: false },
        { name: 'T', type: be.binding.TF_ATTR_TYPE, value: be.binding.TF_FLOAT },
      ];
      const whT = tf.transpose(wt.slice([D, 0], [H, 4 * H]));
      let dhNext: tf.Tensor2D = tf.zeros([N, H]);
      let dcNext: tf.Tensor2D = tf.zeros([N, H]);
      const dicfos: tf.Tensor2D[] = new Array(L);
      for (let t = L - 1; t >= 0; t--) {
        const [xt, cPrev, hPrev, i, cs, f, o, ci, co] = s.slice(t * 9, t * 9 + 9);
        const dh = tf.add(dys[t], dhNext) as tf.Tensor2D;
        const [csPrevGrad, dicfo] = be.executeMultipleOutputs('LSTMBlockCellGrad', attrs,
          [xt, cPrev, hPrev, wt, peep, peep, peep, bt, i, cs, f, o, ci, co, dcNext, dh], 5);
        dicfos[t] = dicfo as tf.Tensor2D;
        dhNext = tf.matMul(dicfo, whT) as tf.Tensor2D;
        dcNext = csPrevGrad as tf.Tensor2D;
      }
      // Weight gradient for all steps in one matMul: [x_t, h_{t-1}]^T dicfo_t summed over t.
      const hPrevAll = L > 1 ? tf.concat([h0.reshape([1, N, H]), hsAll.slice([0, 0, 0], [L - 1, N, H])], 0) : h0.reshape([1, N, H]);
      const xh = tf.concat([xs, hPrevAll], 2).reshape([L * N, D + H]);
      const dAll = tf.concat(dicfos, 0);
      const dw = tf.matMul(xh, dAll, true, false);
      const db = tf.sum(dAll, 0);
      // No gradient into the data; the initial state is outside the graph (truncated BPTT).
      return [tf.zeros([L, N, D]), dw, db];
    };
    return { value, gradFunc };
  });
  const hs = run(x, w, b) as tf.Tensor3D;
  return { hs, c: lastC! };
}
