// Per-step, per-sensor negative log-likelihood of a standardised series under a GANF model: the
// model stage every scoring (batch, stream warm-up, validation, shadow) goes through. Causal: step
// t's NLL uses data up to t only. Pure math on tensors; no scaling, windows or thresholds here.
import { tf } from './tf.ts';
import { disposeState, type EncoderState, type GanfModel } from './ganf.ts';
import { chunkTensor, type Series } from './chunks.ts';

export interface NllOptions {
  encoder: 'stateful' | 'windowed';
  window: number;
  adjacency: tf.Tensor2D;
  /** Steps immediately before the series, used only as context (never returned). */
  context?: Series;
  /** Windows per model call of the windowed encoder; default 64. */
  batchSize?: number;
  /**
   * Called with the flow's condition of each step of the series (context excluded), [K*C], in
   * step order: what expected readings are computed from. The array is only valid during the call.
   */
  onCondition?: (t: number, condition: Float32Array) => void;
}

export interface SeriesNll {
  /**
   * -log p(x_k^t | parents, past) of the context's steps, then the series' ([(Tc+T)*K], index
   * t*K + k): window scores of the first steps average over the context too.
   */
  nll: Float32Array;
  /** Steps of `nll` that belong to the context. */
  contextSteps: number;
}

export function seriesNll(model: GanfModel, series: Series, opts: NllOptions): SeriesNll {
  const input = opts.context ? concatSeries(opts.context, series) : series;
  const offset = opts.context ? opts.context.steps : 0;
  const cb = opts.onCondition;
  const onCondition = cb ? (t: number, c: Float32Array) => { if (t >= offset) cb(t - offset, c); } : undefined;
  let nll: Float32Array;
  if (opts.encoder === 'stateful') {
    const r = statefulNll(model, input, opts.window, opts.adjacency, undefined, onCondition);
    disposeState(r.state);
    nll = r.nll;
  } else {
    nll = windowedNll(model, input, opts.window, opts.adjacency, opts.batchSize ?? 64, onCondition);
  }
  return { nll, contextSteps: offset };
}

/**
 * Runs the encoder through the whole series in chunks; returns the final state for continuation.
 * With `onCondition`, also hands over each step's flow condition [K*C].
 */
export function statefulNll(
  model: GanfModel, s: Series, chunk: number, adjacency: tf.Tensor2D, initial?: EncoderState, onCondition?: (t: number, condition: Float32Array) => void,
): { nll: Float32Array; state: EncoderState } {
  const K = s.sensors;
  const C = model.conditionSize;
  const nll = new Float32Array(s.steps * K);
  let state = initial ?? model.zeroState(1);
  for (let start = 0; start < s.steps; start += chunk) {
    const len = Math.min(chunk, s.steps - start);
    const x = chunkTensor(s, [start], len);
    const out = model.forward(x, state, adjacency, onCondition !== undefined);
    const lp = out.logProb.dataSync(); // [len, K, 1]
    for (let i = 0; i < len * K; i++) nll[start * K + i] = -lp[i];
    if (out.condition) {
      const c = out.condition.dataSync() as Float32Array; // [len, K, 1, C]
      for (let l = 0; l < len; l++) onCondition!(start + l, c.subarray(l * K * C, (l + 1) * K * C));
    }
    tf.dispose([x, out.logProb, out.condition]);
    if (state !== initial) disposeState(state);
    state = out.state;
  }
  return { nll, state };
}

/** Each step scored from a fresh state over the window ending at it (the GANF paper's layout). */
function windowedNll(model: GanfModel, s: Series, L: number, adjacency: tf.Tensor2D, batch: number, onCondition?: (t: number, condition: Float32Array) => void): Float32Array {
  const K = s.sensors;
  const C = model.conditionSize;
  const nll = new Float32Array(s.steps * K);
  // Steps before the first full window see the series from its start, exactly as a stateful pass does.
  const head = Math.min(L - 1, s.steps);
  if (head > 0) {
    const { nll: first, state } = statefulNll(model, { ...s, steps: head, data: s.data.subarray(0, head * K * s.features) }, L, adjacency, undefined, onCondition);
    nll.set(first);
    disposeState(state);
  }
  for (let t = L - 1; t < s.steps; t += batch) {
    const ends = Array.from({ length: Math.min(batch, s.steps - t) }, (_, i) => t + i);
    const x = chunkTensor(s, ends.map((e) => e - L + 1), L);
    const zero = model.zeroState(ends.length);
    const out = model.forward(x, zero, adjacency, onCondition !== undefined);
    const last = tf.tidy(() => out.logProb.slice([L - 1, 0, 0], [1, K, ends.length]).reshape([K, ends.length]));
    const lp = last.dataSync();
    ends.forEach((e, b) => { for (let k = 0; k < K; k++) nll[e * K + k] = -lp[k * ends.length + b]; });
    if (out.condition) {
      const c = out.condition.dataSync() as Float32Array; // [L, K, B, C]: the last step of each window
      const B = ends.length;
      const row = new Float32Array(K * C);
      ends.forEach((e, b) => {
        for (let k = 0; k < K; k++) row.set(c.subarray((((L - 1) * K + k) * B + b) * C, (((L - 1) * K + k) * B + b + 1) * C), k * C);
        onCondition!(e, row);
      });
    }
    tf.dispose([x, last, out.logProb, out.condition]);
    disposeState(zero);
    disposeState(out.state);
  }
  return nll;
}

function concatSeries(a: Series, b: Series): Series {
  if (a.sensors !== b.sensors || a.features !== b.features) throw new Error('context and series have different sensors/features');
  const data = new Float32Array(a.data.length + b.data.length);
  data.set(a.data);
  data.set(b.data, a.data.length);
  return { data, steps: a.steps + b.steps, sensors: a.sensors, features: a.features };
}
