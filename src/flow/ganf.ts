// The GANF density model: a shared LSTM encodes every sensor's history, a graph convolution over
// the (learned) DAG turns parents' current hidden states and the sensor's own previous state into
// a condition vector, and a conditional MAF gives log p(x_j^t | parents, past) per sensor and step.
//
// The flow models the residual (x_j^t - m_j^t) / s_j of a linear mean
// m_j^t = sum_k A_kj W_kj x_k^t + a_j x_j^(t-1) + b_j (parents' current readings over the same
// DAG, own previous reading; fitted by least squares, linear-mean.ts) in units of its scale s_j.
// Why: the LSTM's state is bounded, so a condition built from it alone cannot follow readings
// beyond the training range; a sensor that moves with its parents to a new operating point then
// looked like an outlier by orders of magnitude. The linear mean extrapolates, and the encoder
// reads its inputs clipped to the training range so its condition stays one it was trained on.
// The map uses only x_j's parents and past and has Jacobian 1/s_j, so the density stays exact
// and factorised.
//
// Tensor layout is time-major ([L, K, B, ...]): the LSTM sees [L, K*B, D] without a transpose,
// and parents are aggregated per step with one batched [K,K] x [K, B*H] matMul.
import { tf } from './tf.ts';
import { ParamStore } from './params.ts';
import { ConditionalMAF, type FlowTransform } from './conditional-maf.ts';
import { lstmSequence } from './lstm.ts';
import type { LinearMean } from './linear-mean.ts';

export interface GanfShape {
  sensors: number; // K
  features: number; // D
  hidden: number; // H, LSTM
  condition: number; // C
  flowHidden: number;
  flowBlocks: number;
  transform: FlowTransform;
}

/**
 * Recurrent state for B parallel streams, row = k*B + b: h and c of the LSTM [K*B, H] and the
 * last step's (standardised) readings x [K*B, D] for the linear mean's own-lag term.
 */
export type EncoderState = {
  h: tf.Tensor2D;
  c: tf.Tensor2D;
  x: tf.Tensor2D;
};

export type ChunkOutput = {
  /** log p per time, sensor and stream: [L, K, B]. */
  logProb: tf.Tensor3D;
  state: EncoderState;
  /**
   * Per time, sensor and stream [L, K, B, C + 2D] (only when asked for): the flow's condition,
   * the linear mean and its scale, everything `median` needs.
   */
  condition?: tf.Tensor4D;
};

export class GanfModel {
  readonly shape: GanfShape;
  readonly store: ParamStore;
  readonly flow: ConditionalMAF;
  /** Weighted adjacency A (row = parent, column = child), non-negative, zero diagonal. */
  readonly adjacency: tf.Variable;
  private readonly p: Record<string, tf.Variable> = {};

  constructor(shape: GanfShape, seed: number) {
    this.shape = shape;
    this.store = new ParamStore(seed);
    const { sensors: K, features: D, hidden: H, condition: C } = shape;
    const s = this.store;
    // Gates (i, g, f, o) as in lstm.ts; forget-gate bias 1 keeps early gradients flowing.
    this.p.w = s.create('lstm.w', [D + H, 4 * H]);
    this.p.b = s.create('lstm.b', [4 * H], (sh) => tf.concat([tf.zeros([2 * H]), tf.ones([H]), tf.zeros([H])]).reshape(sh));
    this.p.wn = s.create('gc.wn', [H, H]);
    this.p.wr = s.create('gc.wr', [H, H]);
    this.p.bk = s.create('gc.bk', [K, 1, H], 'zeros');
    this.p.w2 = s.create('gc.w2', [H, C]);
    this.p.b2 = s.create('gc.b2', [C], 'zeros');
    // Zero (scale one) until training sets them from least squares (linear-mean.ts); never
    // trained. A model saved before they existed loads with these values and scores as it did.
    const later = { addedLater: true };
    this.p.lw = s.create('lin.w', [K, K], 'zeros', later);
    this.p.la = s.create('lin.a', [K, D], 'zeros', later);
    this.p.lb = s.create('lin.b', [K, D], 'zeros', later);
    this.p.ls = s.create('lin.s', [K, D], 'ones', later);
    // The range the encoder reads, per sensor and feature (standardised); training sets it to the
    // training data's range. Unbounded until then.
    this.p.lo = s.create('enc.lo', [K, D], (sh) => tf.fill(sh, -3e38), later);
    this.p.hi = s.create('enc.hi', [K, D], (sh) => tf.fill(sh, 3e38), later);
    this.adjacency = s.create('dag.A', [K, K], (sh) => tf.mul(tf.randomUniform(sh, 0, 0.1, 'float32', seed + 101), offDiagonal(K)));
    this.flow = new ConditionalMAF(s, 'flow', {
      features: D, condition: C, hidden: shape.flowHidden, blocks: shape.flowBlocks, transform: shape.transform,
    });
  }

  /** Width of the rows `forward` returns as `condition`: the flow's condition, the linear mean and its scale. */
  get conditionSize(): number {
    return this.shape.condition + 2 * this.shape.features;
  }

  zeroState(streams: number): EncoderState {
    const rows = this.shape.sensors * streams;
    return { h: tf.zeros([rows, this.shape.hidden]), c: tf.zeros([rows, this.shape.hidden]), x: tf.zeros([rows, this.shape.features]) };
  }

  /** LSTM only, no densities: warms up the state (no gradient needed). x: [L, K, B, D]. */
  advance(x: tf.Tensor4D, state: EncoderState): EncoderState {
    return tf.tidy(() => {
      const { hs, c } = this.encode(x, state);
      const [L, K, B, D] = x.shape;
      return {
        h: hs.slice([L - 1, 0, 0], [1, hs.shape[1], hs.shape[2]]).reshape([hs.shape[1], hs.shape[2]]) as tf.Tensor2D,
        c,
        x: x.slice([L - 1, 0, 0, 0], [1, K, B, D]).reshape([K * B, D]) as tf.Tensor2D,
      };
    });
  }

  /**
   * Densities for a chunk x [L, K, B, D] (standardised), starting from `state`.
   * `adjacency` overrides the learned A (e.g. the extracted DAG's weights at scoring time).
   * `withCondition` also returns the condition vectors (what `median` needs).
   */
  forward(x: tf.Tensor4D, state: EncoderState, adjacency: tf.Tensor2D = this.adjacency as tf.Tensor2D, withCondition = false): ChunkOutput {
    return tf.tidy(() => {
      const [L, K, B, D] = x.shape;
      const H = this.shape.hidden;
      const { hs, c } = this.encode(x, state); // [L, K*B, H]
      const prev = L > 1 ? tf.concat([state.h.reshape([1, K * B, H]), hs.slice([0, 0, 0], [L - 1, K * B, H])], 0) : state.h.reshape([1, K * B, H]);
      // Parents at the same step: agg_j = sum_k A_kj h_k, batched over time.
      const At = tf.tile(tf.transpose(adjacency).reshape([1, K, K]), [L, 1, 1]) as tf.Tensor3D;
      const agg = tf.matMul(At, hs.reshape([L, K, B * H])).reshape([L * K * B, H]);
      const pre = tf.add(
        tf.add(tf.matMul(agg, this.p.wn), tf.matMul(prev.reshape([L * K * B, H]), this.p.wr)).reshape([L, K, B, H]),
        this.p.bk.reshape([1, K, 1, H]),
      );
      const cond = tf.fused.matMul({ a: tf.relu(pre).reshape([L * K * B, H]) as tf.Tensor2D, b: this.p.w2 as tf.Tensor2D, bias: this.p.b2 });
      const mean = this.linearMean(x, state.x, adjacency);
      const scale = this.p.ls.reshape([1, K, 1, D]);
      const residual = tf.div(tf.sub(x, mean), scale).reshape([L * K * B, D]) as tf.Tensor2D;
      // log p(x) = log p_flow(residual) - sum_d log s_jd (the Jacobian of the standardisation).
      const logJac = tf.tile(tf.neg(tf.sum(tf.log(this.p.ls), 1)).reshape([1, K, 1]), [L, 1, B]).reshape([L * K * B]);
      const lp = tf.add(this.flow.logProb(residual, cond as tf.Tensor2D), logJac);
      const last = {
        h: hs.slice([L - 1, 0, 0], [1, K * B, H]).reshape([K * B, H]) as tf.Tensor2D,
        c,
        x: x.slice([L - 1, 0, 0, 0], [1, K, B, D]).reshape([K * B, D]) as tf.Tensor2D,
      };
      const out: ChunkOutput = { logProb: lp.reshape([L, K, B]) as tf.Tensor3D, state: last };
      if (withCondition) {
        const scales = tf.tile(scale, [L, 1, B, 1]).reshape([L * K * B, D]);
        out.condition = tf.concat([cond, mean.reshape([L * K * B, D]), scales], 1).reshape([L, K, B, this.conditionSize]) as tf.Tensor4D;
      }
      return out;
    });
  }

  /**
   * The conditional median point of x (standardised) for `forward`'s condition rows
   * [N, C + 2D] -> [N, D]: the flow inverted at z = 0 (see ConditionalMAF.inverse), scaled and
   * added to the linear mean, i.e. what the model expects a sensor to read given its own history
   * and its parents.
   */
  median(condition: Float32Array, rows: number): Float32Array {
    return tf.tidy(() => {
      const { condition: C, features: D } = this.shape;
      const all = tf.tensor2d(condition, [rows, C + 2 * D]);
      const residual = this.flow.inverse(tf.zeros([rows, D]), all.slice([0, 0], [rows, C]) as tf.Tensor2D);
      return tf.add(tf.mul(residual, all.slice([0, C + D], [rows, D])), all.slice([0, C], [rows, D])).dataSync() as Float32Array;
    });
  }

  /**
   * Sets the linear mean's parameters from a fit; parent coefficients are divided by the
   * adjacency weights they will be multiplied with (`adjacency` [K*K], > 0 wherever the fit has a parent).
   */
  setLinearMean(fit: LinearMean, adjacency: Float32Array): void {
    const { sensors: K, features: D } = this.shape;
    const w = new Float32Array(K * K);
    for (let i = 0; i < K * K; i++) if (fit.parents[i] !== 0) w[i] = fit.parents[i] / adjacency[i];
    const perFeature = (v: Float64Array) => tf.tensor2d(Float32Array.from({ length: K * D }, (_, i) => v[Math.floor(i / D)]), [K, D]);
    tf.tidy(() => {
      this.p.lw.assign(tf.tensor2d(w, [K, K]));
      this.p.la.assign(perFeature(fit.own));
      this.p.lb.assign(perFeature(fit.bias));
      this.p.ls.assign(perFeature(fit.scale));
    });
  }

  /** The linear mean [L, K, B, D] of chunk x given the previous step's readings `prevX` [K*B, D]. */
  private linearMean(x: tf.Tensor4D, prevX: tf.Tensor2D, adjacency: tf.Tensor2D): tf.Tensor4D {
    const [L, K, B, D] = x.shape;
    const prev = L > 1 ? tf.concat([prevX.reshape([1, K, B, D]), x.slice([0, 0, 0, 0], [L - 1, K, B, D])], 0) : prevX.reshape([1, K, B, D]);
    // Parents at the same step over the same graph: sum_k (A_kj W_kj) x_k, batched over time.
    const Wt = tf.tile(tf.transpose(tf.mul(adjacency, this.p.lw)).reshape([1, K, K]), [L, 1, 1]) as tf.Tensor3D;
    const parents = tf.matMul(Wt, x.reshape([L, K, B * D])).reshape([L, K, B, D]);
    return tf.add(tf.add(parents, tf.mul(prev, this.p.la.reshape([1, K, 1, D]))), this.p.lb.reshape([1, K, 1, D])) as tf.Tensor4D;
  }

  /** Sets the range the encoder reads (standardised, [K*D] each), clipping what lies beyond. */
  setEncoderRange(lo: Float32Array, hi: Float32Array): void {
    const { sensors: K, features: D } = this.shape;
    tf.tidy(() => {
      this.p.lo.assign(tf.tensor2d(lo, [K, D]));
      this.p.hi.assign(tf.tensor2d(hi, [K, D]));
    });
  }

  /**
   * The LSTM over x clipped to the encoder's range: beyond the training range its state would be
   * one it was never trained on and the condition arbitrary; clipped, it stays at the edge of what
   * it knows and the linear mean carries the level.
   */
  private encode(x: tf.Tensor4D, state: EncoderState): { hs: tf.Tensor3D; c: tf.Tensor2D } {
    const [L, K, B, D] = x.shape;
    const seen = tf.minimum(tf.maximum(x, this.p.lo.reshape([1, K, 1, D])), this.p.hi.reshape([1, K, 1, D]));
    return lstmSequence(seen.reshape([L, K * B, D]) as tf.Tensor3D, state.h, state.c, this.p.w as tf.Tensor2D, this.p.b as tf.Tensor1D);
  }

  dispose(): void {
    this.flow.dispose();
    this.store.dispose();
  }
}

export function offDiagonal(K: number): tf.Tensor2D {
  return tf.sub(tf.ones([K, K]), tf.eye(K)) as tf.Tensor2D;
}

export function disposeState(s: EncoderState): void {
  s.h.dispose();
  s.c.dispose();
  s.x.dispose();
}
