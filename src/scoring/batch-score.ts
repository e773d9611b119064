// The score stage of the scoring path (score-path.ts): per-sensor NLL from the model (flow/nll.ts),
// plus the out-of-range penalty, averaged over the trailing score window. Causal: the score of
// step t uses data up to t only, so these numbers are what the stream produces later.
import type { GanfModel } from '../flow/ganf.ts';
import type { Series } from '../flow/chunks.ts';
import { seriesNll, type NllOptions } from '../flow/nll.ts';

export interface SeriesScores {
  steps: number;
  sensors: number;
  /** Window mean of -log p(x_k^t | parents, past) (+ penalty), [T*K], index t*K + k. */
  perSensor: Float32Array;
  /** Sum over sensors: -log p(x^t | past), [T]. */
  total: Float32Array;
}

export interface ScoreOptions extends NllOptions {
  /** Trailing steps averaged into each score (see ModelConfig.scoreWindow); default 1. */
  scoreWindow?: number;
  /** Added to each step's per-sensor NLL of the series [T*K] before windowing (out-of-range readings, see rangeExcess). */
  penalty?: Float32Array;
}

export function scoreSeries(model: GanfModel, series: Series, opts: ScoreOptions): SeriesScores {
  const { nll, contextSteps } = seriesNll(model, series, opts);
  const K = series.sensors;
  if (opts.penalty) for (let i = 0; i < opts.penalty.length; i++) nll[contextSteps * K + i] += opts.penalty[i];
  const perSensor = trailingMean(nll, K, opts.scoreWindow ?? 1).slice(contextSteps * K);
  return { steps: series.steps, sensors: K, perSensor, total: totals(perSensor, K) };
}

/** A window value this large is re-summed from the ring when it leaves (see push). */
const HUGE = 1e6;

/**
 * The trailing score window of one stream: the mean of each sensor's last w per-step NLLs (fewer
 * at the start). It is the per-step mean of the window's joint log-density, kept in O(K) per step;
 * batch scoring (trailingMean) and the stream (StreamScorer) both use it, so their windows agree
 * to the bit.
 */
export class TrailingWindow {
  readonly ring: Float32Array;
  readonly sums: Float64Array;
  seen = 0;

  constructor(readonly K: number, readonly w: number) {
    this.ring = new Float32Array(Math.max(1, w) * K);
    this.sums = new Float64Array(K);
  }

  /** Adds one step's K values (row[offset .. offset+K)). */
  push(row: ArrayLike<number>, offset = 0): void {
    const { K, w } = this;
    const slot = (this.seen % Math.max(1, w)) * K;
    for (let k = 0; k < K; k++) {
      const v = row[offset + k];
      // One value in the window: the value itself (a sum minus a huge old value would lose it).
      if (w <= 1) this.sums[k] = v;
      else {
        const old = this.seen >= w ? this.ring[slot + k] : 0;
        this.sums[k] += v;
        this.sums[k] -= old;
        this.ring[slot + k] = v;
        // A huge value (a glitch's NLL reaches 1e30) absorbed every value added while it was in
        // the sum; subtracted, it would leave their negative for good and blind the sensor.
        if (Math.abs(old) >= HUGE) this.sums[k] = this.ringSum(k);
      }
      this.ring[slot + k] = v;
    }
    this.seen++;
  }

  /** Sensor k's sum over a full ring. */
  private ringSum(k: number): number {
    let s = 0;
    for (let i = 0; i < this.w; i++) s += this.ring[i * this.K + k];
    return s;
  }

  /** The window means into out[offset .. offset+K). */
  mean(out: Float32Array, offset = 0): void {
    const n = Math.min(this.seen, Math.max(1, this.w));
    for (let k = 0; k < this.K; k++) out[offset + k] = this.sums[k] / n;
  }
}

/** Causal moving average over the last w rows of a [T, K] array (fewer at the start). */
export function trailingMean(values: Float32Array, K: number, w: number): Float32Array {
  if (w <= 1) return values;
  const T = values.length / K;
  const out = new Float32Array(values.length);
  const win = new TrailingWindow(K, w);
  for (let t = 0; t < T; t++) {
    win.push(values, t * K);
    win.mean(out, t * K);
  }
  return out;
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
