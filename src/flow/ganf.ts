// The GANF density model: a shared LSTM encodes every sensor's history, a graph convolution over
// the (learned) DAG turns parents' current hidden states and the sensor's own previous state into
// a condition vector, and a conditional MAF gives log p(x_j^t | parents, past) per sensor and step.
//
// Tensor layout is sensor-major ([K, L, B, ...]) so that aggregating parents is one
// [K,K] x [K, L*B*H] matMul with no transposes.
import { tf } from './tf.ts';
import { ParamStore } from './params.ts';
import { ConditionalMAF, type FlowTransform } from './conditional-maf.ts';

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
  /** log p per sensor, time and stream: [K, L, B]. */
  logProb: tf.Tensor3D;
  state: EncoderState;
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
    this.p.wx = s.create('lstm.wx', [D, 4 * H]);
    this.p.wh = s.create('lstm.wh', [H, 4 * H]);
    // Forget-gate bias 1 keeps early gradients flowing through the cell state.
    this.p.b = s.create('lstm.b', [4 * H], (sh) => tf.concat([tf.zeros([H]), tf.ones([H]), tf.zeros([2 * H])]).reshape(sh));
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

  /** LSTM only, no densities: warms up the state (no gradient needed). x: [K, L, B, D]. */
  advance(x: tf.Tensor4D, state: EncoderState): EncoderState {
    return tf.tidy(() => {
      return this.encode(x, state).last;
    });
  }

  /**
   * Densities for a chunk x [K, L, B, D] (standardised), starting from `state`.
   * `adjacency` overrides the learned A (e.g. the extracted DAG's weights at scoring time).
   */
  forward(x: tf.Tensor4D, state: EncoderState, adjacency: tf.Tensor2D = this.adjacency as tf.Tensor2D): ChunkOutput {
    return tf.tidy(() => {
      const [K, L, B, D] = x.shape;
      const H = this.shape.hidden;
      const { hs, last } = this.encode(x, state);
      // hidden [K, L, B, H]; previous-step hidden for the self term.
      const hidden = tf.stack(hs.map((h) => h.reshape([K, B, H])), 1) as tf.Tensor4D;
      const h0 = state.h.reshape([K, 1, B, H]);
      const prev = L > 1 ? tf.concat([h0, hidden.slice([0, 0, 0, 0], [K, L - 1, B, H])], 1) : h0;
      // Parents at the same step: agg_j = sum_k A_kj h_k.
      const agg = tf.matMul(adjacency, hidden.reshape([K, L * B * H]), true, false).reshape([K * L * B, H]);
      const pre = tf.add(
        tf.add(tf.matMul(agg, this.p.wn), tf.matMul(prev.reshape([K * L * B, H]), this.p.wr)).reshape([K, L * B, H]),
        this.p.bk,
      );
      const cond = tf.add(tf.matMul(tf.relu(pre).reshape([K * L * B, H]), this.p.w2), this.p.b2) as tf.Tensor2D;
      const lp = this.flow.logProb(x.reshape([K * L * B, D]) as tf.Tensor2D, cond);
      return { logProb: lp.reshape([K, L, B]) as tf.Tensor3D, state: last };
    });
  }

  private encode(x: tf.Tensor4D, state: EncoderState): { hs: tf.Tensor2D[]; last: EncoderState } {
    const [K, L, B, D] = x.shape;
    const H = this.shape.hidden;
    // Input projection for all steps at once; then one [K*B,H]x[H,4H] matMul per step.
    const proj = tf.matMul(x.reshape([K * L * B, D]), this.p.wx).reshape([K, L, B, 4 * H]);
    const steps = tf.unstack(tf.transpose(proj, [1, 0, 2, 3])) as tf.Tensor3D[];
    let h = state.h;
    let c = state.c;
    const hs: tf.Tensor2D[] = [];
    for (let t = 0; t < L; t++) {
      const z = tf.add(tf.add(steps[t].reshape([K * B, 4 * H]), tf.matMul(h, this.p.wh)), this.p.b);
      const [i, f, g, o] = tf.split(z, 4, 1) as tf.Tensor2D[];
      c = tf.add(tf.mul(tf.sigmoid(f), c), tf.mul(tf.sigmoid(i), tf.tanh(g)));
      h = tf.mul(tf.sigmoid(o), tf.tanh(c));
      hs.push(h);
    }
    return { hs, last: { h, c } };
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
