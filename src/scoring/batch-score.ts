// Causal batch scoring: the score of step t uses data up to t only, so these numbers are what the
// stream produces later. Score = negative log-likelihood, total and per sensor.
import { tf } from '../flow/tf.ts';
import type { GanfModel, EncoderState } from '../flow/ganf.ts';
import { disposeState } from '../flow/ganf.ts';
import { chunkTensor, type Series } from '../flow/chunks.ts';

export interface SeriesScores {
  steps: number;
  sensors: number;
  /** -log p(x_k^t | parents, past), [T*K], index t*K + k. */
  perSensor: Float32Array;
  /** Sum over sensors: -log p(x^t | past), [T]. */
  total: Float32Array;
}

export interface ScoreOptions {
  encoder: 'stateful' | 'windowed';
  window: number;
  adjacency: tf.Tensor2D;
  /** Steps immediately before the series, used only as context (never scored). */
  context?: Series;
  /** Trailing steps averaged into each score (see ModelConfig.scoreWindow); default 1. */
  scoreWindow?: number;
  /** Added to each step's per-sensor NLL of the series [T*K] before windowing (out-of-range readings, see rangeExcess). */
  penalty?: Float32Array;
  batchSize?: number;
}

export function scoreSeries(model: GanfModel, series: Series, opts: ScoreOptions): SeriesScores {
  const input = opts.context ? concatSeries(opts.context, series) : series;
  const offset = opts.context ? opts.context.steps : 0;
  const nll = opts.encoder === 'stateful'
    ? statefulNll(model, input, opts.window, opts.adjacency).nll
    : windowedNll(model, input, opts.window, opts.adjacency, opts.batchSize ?? 64);
  const K = series.sensors;
  if (opts.penalty) for (let i = 0; i < opts.penalty.length; i++) nll[offset * K + i] += opts.penalty[i];
  const perSensor = trailingMean(nll, K, opts.scoreWindow ?? 1).slice(offset * K);
  return { steps: series.steps, sensors: K, perSensor, total: totals(perSensor, K) };
}

/**
 * Causal moving average over the last w rows of a [T, K] array (fewer at the start). It is the
 * per-step mean of the window's joint log-density, so a stream keeps it in O(K) per step.
 */
export function trailingMean(values: Float32Array, K: number, w: number): Float32Array {
  if (w <= 1) return values;
  const T = values.length / K;
  const out = new Float32Array(values.length);
  const acc = new Float64Array(K);
  for (let t = 0; t < T; t++) {
    for (let k = 0; k < K; k++) {
      acc[k] += values[t * K + k];
      if (t >= w) acc[k] -= values[(t - w) * K + k];
      out[t * K + k] = acc[k] / Math.min(w, t + 1);
    }
  }
  return out;
}

/** Runs the encoder through the whole series in chunks; returns the final state for continuation. */
export function statefulNll(
  model: GanfModel, s: Series, chunk: number, adjacency: tf.Tensor2D, initial?: EncoderState,
): { nll: Float32Array; state: EncoderState } {
  const K = s.sensors;
  const nll = new Float32Array(s.steps * K);
  let state = initial ?? model.zeroState(1);
  for (let start = 0; start < s.steps; start += chunk) {
    const len = Math.min(chunk, s.steps - start);
    const x = chunkTensor(s, [start], len);
    const out = model.forward(x, state, adjacency);
    const lp = out.logProb.dataSync(); // [len, K, 1]
    for (let i = 0; i < len * K; i++) nll[start * K + i] = -lp[i];
    x.dispose();
    out.logProb.dispose();
    if (state !== initial) disposeState(state);
    state = out.state;
  }
  return { nll, state };
}

/** Each step scored from a fresh state over the window ending at it (the GANF paper's layout). */
function windowedNll(model: GanfModel, s: Series, L: number, adjacency: tf.Tensor2D, batch: number): Float32Array {
  const K = s.sensors;
  const nll = new Float32Array(s.steps * K);
  // Steps before the first full window see the series from its start, exactly as a stateful pass does.
  const head = Math.min(L - 1, s.steps);
  if (head > 0) {
    const { nll: first, state } = statefulNll(model, { ...s, steps: head, data: s.data.subarray(0, head * K * s.features) }, L, adjacency);
    nll.set(first);
    disposeState(state);
  }
  for (let t = L - 1; t < s.steps; t += batch) {
    const ends = Array.from({ length: Math.min(batch, s.steps - t) }, (_, i) => t + i);
    const x = chunkTensor(s, ends.map((e) => e - L + 1), L);
    const zero = model.zeroState(ends.length);
    const out = model.forward(x, zero, adjacency);
    const last = tf.tidy(() => out.logProb.slice([L - 1, 0, 0], [1, K, ends.length]).reshape([K, ends.length]));
    const lp = last.dataSync();
    ends.forEach((e, b) => { for (let k = 0; k < K; k++) nll[e * K + k] = -lp[k * ends.length + b]; });
    tf.dispose([x, last, out.logProb]);
    disposeState(zero);
    disposeState(out.state);
  }
  return nll;
}

export function totals(perSensor: Float32Array, K: number): Float32Array {
  const T = perSensor.length / K;
  const out = new Float32Array(T);
  for (let t = 0; t < T; t++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += perSensor[t * K + k];
    out[t] = s;
  }
  return out;
}

export function concatSeries(a: Series, b: Series): Series {
  if (a.sensors !== b.sensors || a.features !== b.features) throw new Error('context and series have different sensors/features');
  const data = new Float32Array(a.data.length + b.data.length);
  data.set(a.data);
  data.set(b.data, a.data.length);
  return { data, steps: a.steps + b.steps, sensors: a.sensors, features: a.features };
}
