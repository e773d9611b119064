// The GANF density model: a shared LSTM encodes every sensor's history, a graph convolution over
// the (learned) DAG turns parents' current hidden states and the sensor's own previous state into
// a condition vector, and a conditional MAF gives log p(x_j^t | parents, past) per sensor and step.
//
// Tensor layout is time-major ([L, K, B, ...]): the LSTM sees [L, K*B, D] without a transpose,
// and parents are aggregated per step with one batched [K,K] x [K, B*H] matMul.
import { tf } from './tf.ts';
import { ParamStore } from './params.ts';
import { ConditionalMAF, type FlowTransform } from './conditional-maf.ts';
import { lstmSequence } from './lstm.ts';

export interface GanfShape {
  sensors: number; // K
  features: number; // D
  hidden: number; // H, LSTM
  condition: number; // C
  flowHidden: number;
  flowBlocks: number;
  transform: FlowTransform;
}

/** Recurrent state for B parallel streams: h and c of the LSTM, [K*B, H] each, row = k*B + b. */
export type EncoderState = {
  h: tf.Tensor2D;
  c: tf.Tensor2D;
};

export type ChunkOutput = {
  /** log p per time, sensor and stream: [L, K, B]. */
  logProb: tf.Tensor3D;
  state: EncoderState;
  /** The flow's condition per time, sensor and stream [L, K, B, C] (only when asked for). */
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
    this.adjacency = s.create('dag.A', [K, K], (sh) => tf.mul(tf.randomUniform(sh, 0, 0.1, 'float32', seed + 101), offDiagonal(K)));
    this.flow = new ConditionalMAF(s, 'flow', {
      features: D, condition: C, hidden: shape.flowHidden, blocks: shape.flowBlocks, transform: shape.transform,
    });
  }

  zeroState(streams: number): EncoderState {
    const rows = this.shape.sensors * streams;
    return { h: tf.zeros([rows, this.shape.hidden]), c: tf.zeros([rows, this.shape.hidden]) };
  }

  /** LSTM only, no densities: warms up the state (no gradient needed). x: [L, K, B, D]. */
  advance(x: tf.Tensor4D, state: EncoderState): EncoderState {
    return tf.tidy(() => {
      const { hs, c } = this.encode(x, state);
      const L = x.shape[0];
      return { h: hs.slice([L - 1, 0, 0], [1, hs.shape[1], hs.shape[2]]).reshape([hs.shape[1], hs.shape[2]]) as tf.Tensor2D, c };
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
      const lp = this.flow.logProb(x.reshape([L * K * B, D]) as tf.Tensor2D, cond as tf.Tensor2D);
      const last = { h: hs.slice([L - 1, 0, 0], [1, K * B, H]).reshape([K * B, H]) as tf.Tensor2D, c };
      const out: ChunkOutput = { logProb: lp.reshape([L, K, B]) as tf.Tensor3D, state: last };
      if (withCondition) out.condition = cond.reshape([L, K, B, this.shape.condition]) as tf.Tensor4D;
      return out;
    });
  }

  /**
   * The conditional median point of x (standardised) for condition rows [N, C] -> [N, D]: the
   * flow inverted at z = 0 (see ConditionalMAF.inverse), i.e. what the model expects a sensor to
   * read given its own history and its parents.
   */
  median(condition: Float32Array, rows: number): Float32Array {
    return tf.tidy(() => {
      const c = tf.tensor2d(condition, [rows, this.shape.condition]);
      return this.flow.inverse(tf.zeros([rows, this.shape.features]), c).dataSync() as Float32Array;
    });
  }

  private encode(x: tf.Tensor4D, state: EncoderState): { hs: tf.Tensor3D; c: tf.Tensor2D } {
    const [L, K, B, D] = x.shape;
    return lstmSequence(x.reshape([L, K * B, D]) as tf.Tensor3D, state.h, state.c, this.p.w as tf.Tensor2D, this.p.b as tf.Tensor1D);
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
}
