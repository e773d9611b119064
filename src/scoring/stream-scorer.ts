// Online scoring, one time step at a time (River's score_one): the encoder state and the trailing
// score window are carried, so each new step costs one LSTM cell update per sensor, and the
// numbers equal batch scoring of the same series (test/stream-scorer.test.ts). The state can be
// snapshotted exactly (float32/float64, not recomputed) so a stream consumer checkpoints it with
// its input offsets and resumes after a crash or a partition move with the numbers an
// uninterrupted run would have produced. Several streams of one model (the sites of a partition)
// can be scored in one model call (scoreTogether).
import { z } from 'zod';
import { tf } from '../flow/tf.ts';
import { disposeState, type EncoderState } from '../flow/ganf.ts';
import { seriesFrom } from '../flow/chunks.ts';
import { statefulNll } from './batch-score.ts';
import { aggregateRow, aggregateSpecOf } from './aggregate.ts';
import { surpriseRow } from './calibration.ts';
import { standardiseRow } from '../data/preprocess.ts';
import type { Detector } from '../detector.ts';

export const ScorerSnapshotSchema = z.strictObject({
  modelVersion: z.string(),
  seen: z.number().int().min(0),
  /** base64 float32 [w*K] */
  ring: z.string(),
  /** base64 float64 [K] */
  sums: z.string(),
  /** base64 float32 [K*H] each */
  h: z.string(),
  c: z.string(),
});
export type ScorerSnapshot = z.infer<typeof ScorerSnapshotSchema>;

const b64 = (a: Float32Array | Float64Array): string => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
function f32(s: string, n: number, what: string): Float32Array {
  const buf = Buffer.from(s, 'base64');
  if (buf.byteLength !== n * 4) throw new Error(`scorer snapshot: ${what} has ${buf.byteLength / 4} values, expected ${n}`);
  return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}
function f64(s: string, n: number, what: string): Float64Array {
  const buf = Buffer.from(s, 'base64');
  if (buf.byteLength !== n * 8) throw new Error(`scorer snapshot: ${what} has ${buf.byteLength / 8} values, expected ${n}`);
  return new Float64Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
}

export interface StepScore {
  /** Anomaly score: per-sensor window NLL aggregated as the model says, as in batch scoring. */
  total: number;
  /** Per-sensor window NLL, in `detector.sensors` order. */
  perSensor: Float32Array;
  /** Per-sensor calibrated surprise (src/scoring/calibration.ts), same order. */
  surprise: Float32Array;
  /** Indices (model order) of sensors whose reading was outside its plausible range (clipped). */
  implausible: number[];
  alert: boolean;
}

export class StreamScorer {
  private state: EncoderState;
  private readonly K: number;
  private readonly D: number;
  private readonly H: number;
  private readonly w: number;
  private readonly ring: Float32Array;
  private readonly sums: Float64Array;
  private seen = 0;

  constructor(private readonly det: Detector, opts: { warmStart?: boolean; snapshot?: ScorerSnapshot } = {}) {
    if (det.config.model.encoder !== 'stateful') throw new Error('stream scoring needs a model trained with model.encoder = "stateful"');
    this.K = det.sensors.length;
    this.D = det.features.length;
    this.H = det.model.shape.hidden;
    this.w = det.config.model.scoreWindow;
    this.ring = new Float32Array(this.w * this.K);
    this.sums = new Float64Array(this.K);
    if (opts.snapshot) {
      const s = ScorerSnapshotSchema.parse(opts.snapshot);
      if (s.modelVersion !== det.modelVersion) throw new Error(`scorer snapshot is for model ${s.modelVersion}, not ${det.modelVersion}`);
      const n = this.K * this.H;
      this.state = { h: tf.tensor2d(f32(s.h, n, 'h'), [this.K, this.H]), c: tf.tensor2d(f32(s.c, n, 'c'), [this.K, this.H]) };
      this.ring.set(f32(s.ring, this.w * this.K, 'ring'));
      this.sums.set(f64(s.sums, this.K, 'sums'));
      this.seen = s.seen;
      return;
    }
    this.state = det.model.zeroState(1);
    if (opts.warmStart) {
      const ctx = seriesFrom(det.context, this.K, this.D);
      const { nll, state } = statefulNll(det.model, ctx, det.config.model.window, det.adjacency, this.state);
      disposeState(this.state);
      this.state = state;
      for (let t = 0; t < ctx.steps; t++) this.push(nll.subarray(t * this.K, (t + 1) * this.K));
    }
  }

  /** Steps scored since the (cold or warm) start. */
  get steps(): number {
    return this.seen;
  }

  /** One raw step (sensor units), [K*D] in `detector.sensors` order. */
  scoreOne(raw: Float64Array | Float32Array | number[]): StepScore {
    return this.scoreMany(raw)[0];
  }

  /** n raw steps [n*K*D] (sensor units, model order): the same numbers as n scoreOne calls, in one model call. */
  scoreMany(raw: Float64Array | Float32Array | number[]): StepScore[] {
    return StreamScorer.scoreTogether([this], [raw])[0];
  }

  /** One step already standardised (and clipped) with the model's scaler, [K*D] in model order; `excess` from standardiseRow. */
  scoreStandardised(x: Float32Array, excess?: Float32Array): StepScore {
    return StreamScorer.scoreChunk([this], x, 1, excess)[0][0];
  }

  /**
   * Several independent streams of the same model (e.g. the sites of a partition), n steps each,
   * in ONE model call: their recurrent states are stacked as the model's B parallel streams. Each
   * stream gets the numbers its own scoreMany would give (up to float rounding), at a fraction of
   * the per-step cost when n is small or the model is small.
   */
  static scoreTogether(scorers: StreamScorer[], raws: Array<Float64Array | Float32Array | number[]>): StepScore[][] {
    const B = scorers.length;
    if (B === 0) return [];
    const first = scorers[0];
    const { K, D, det } = first;
    const row = K * D;
    if (raws.length !== B) throw new Error(`scoreTogether: ${raws.length} inputs for ${B} scorers`);
    const n = raws[0].length / row;
    for (const [b, s] of scorers.entries()) {
      if (s.det.model !== det.model) throw new Error('scoreTogether: the scorers must share one model');
      if (raws[b].length !== n * row || !Number.isInteger(n)) throw new Error(`scoreTogether: every input needs the same whole number of steps (${row} values each)`);
    }
    if (n === 0) return scorers.map(() => []);
    // Time-major chunk [n, K, B, D], standardised and clipped as applyScaler does for batch scoring;
    // the out-of-range part [n, K, B] is added to the NLL as batch scoring adds rangeExcess.
    const x = new Float32Array(n * K * B * D);
    const excess = new Float32Array(n * K * B);
    const ex = new Float32Array(K);
    raws.forEach((raw, b) => {
      for (let l = 0; l < n; l++) {
        const z = standardiseRow(Array.isArray(raw) ? raw.slice(l * row, (l + 1) * row) : raw.subarray(l * row, (l + 1) * row), det.scaler, ex);
        for (let k = 0; k < K; k++) {
          for (let d = 0; d < D; d++) x[((l * K + k) * B + b) * D + d] = z[k * D + d];
          excess[(l * K + k) * B + b] = ex[k];
        }
      }
    });
    return StreamScorer.scoreChunk(scorers, x, n, excess);
  }

  /** The model call: standardised x [n, K, B, D] for B = scorers.length streams, out-of-range excess [n, K, B]. */
  private static scoreChunk(scorers: StreamScorer[], x: Float32Array, n: number, excess?: Float32Array): StepScore[][] {
    const B = scorers.length;
    const first = scorers[0];
    const { K, D, H, det } = first;
    const chunk = tf.tensor4d(x, [n, K, B, D]);
    const state: EncoderState = B === 1 ? first.state : tf.tidy(() => ({
      h: tf.stack(scorers.map((s) => s.state.h), 1).reshape([K * B, H]) as tf.Tensor2D,
      c: tf.stack(scorers.map((s) => s.state.c), 1).reshape([K * B, H]) as tf.Tensor2D,
    }));
    const out = det.model.forward(chunk, state, det.adjacency);
    const lp = out.logProb.dataSync(); // [n, K, B]
    tf.dispose([chunk, out.logProb]);
    if (B === 1) {
      disposeState(first.state);
      first.state = out.state;
    } else {
      const hs = tf.tidy(() => tf.unstack(out.state.h.reshape([K, B, H]), 1)) as tf.Tensor2D[];
      const cs = tf.tidy(() => tf.unstack(out.state.c.reshape([K, B, H]), 1)) as tf.Tensor2D[];
      disposeState(state);
      disposeState(out.state);
      scorers.forEach((s, b) => {
        disposeState(s.state);
        s.state = { h: hs[b], c: cs[b] };
      });
    }
    const spec = aggregateSpecOf(det.config.model, K);
    return scorers.map((s, b) => {
      const results: StepScore[] = [];
      for (let t = 0; t < n; t++) {
        const nll = new Float32Array(K);
        for (let k = 0; k < K; k++) nll[k] = -lp[(t * K + k) * B + b] + (excess ? excess[(t * K + k) * B + b] : 0);
        s.push(nll);
        const m = Math.min(s.seen, s.w);
        const perSensor = Float32Array.from(s.sums, (v) => v / m);
        const surprise = new Float32Array(K);
        surpriseRow(det.calibration, perSensor, 0, K, surprise);
        const total = aggregateRow(perSensor, surprise, 0, K, spec);
        const implausible: number[] = [];
        if (excess) for (let k = 0; k < K; k++) if (excess[(t * K + k) * B + b] > 0) implausible.push(k);
        results.push({ total, perSensor, surprise, implausible, alert: total > det.threshold.value });
      }
      return results;
    });
  }

  private push(nll: Float32Array): void {
    const slot = (this.seen % this.w) * this.K;
    for (let k = 0; k < this.K; k++) {
      if (this.seen >= this.w) this.sums[k] -= this.ring[slot + k];
      this.ring[slot + k] = nll[k];
      this.sums[k] += nll[k];
    }
    this.seen++;
  }

  snapshot(): ScorerSnapshot {
    return {
      modelVersion: this.det.modelVersion,
      seen: this.seen,
      ring: b64(this.ring),
      sums: b64(this.sums),
      h: b64(this.state.h.dataSync() as Float32Array),
      c: b64(this.state.c.dataSync() as Float32Array),
    };
  }

  dispose(): void {
    disposeState(this.state);
  }
}
