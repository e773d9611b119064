// Online scoring, one time step at a time (River's score_one): the encoder state and the trailing
// score window are carried, so each new step costs one LSTM cell update per sensor, and the
// numbers equal batch scoring of the same series (test/stream-scorer.test.ts). The state can be
// snapshotted exactly (float32/float64, not recomputed) so a stream consumer checkpoints it with
// its input offsets and resumes after a crash or a partition move with the numbers an
// uninterrupted run would have produced. Several streams of one model (the sites of a partition)
// can be scored in one model call (scoreTogether). Every stage is the scoring path's
// (score-path.ts): standardiseRow, the model's NLL + penalty in a TrailingWindow, the stuck-reading
// tracker, aggregateStep, exceeds.
import { z } from 'zod';
import { tf } from '../flow/tf.ts';
import { disposeState, type EncoderState } from '../flow/ganf.ts';
import { seriesFrom } from '../flow/chunks.ts';
import { statefulNll } from '../flow/nll.ts';
import { TrailingWindow } from './batch-score.ts';
import { aggregateSpec, aggregateStep, expectedReadings, newSurpriseBaseline } from './score-path.ts';
import { SurpriseBaseline, SurpriseBaselineSnapshotSchema } from './surprise-baseline.ts';
import { StuckReadings, StuckReadingsSnapshotSchema } from './stuck-readings.ts';
import { exceeds } from './threshold.ts';
import { standardiseRow } from '../data/preprocess.ts';
import type { ScoringModel } from './scoring-model.ts';
import type { Reading } from './alert.ts';

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
  /**
   * base64 float32 [K*D]: the last step's standardised readings (the linear mean's own lag).
   * Absent in snapshots written before the linear mean, whose models have no own lag: zeros.
   */
  x: z.string().optional(),
  /**
   * The drift baseline of the surprises (surprise-baseline.ts). Absent in snapshots written
   * before it: the scorer resumes with a fresh baseline (validation level).
   */
  baseline: SurpriseBaselineSnapshotSchema.optional(),
  /**
   * The runs of repeated readings (stuck-readings.ts). Absent in snapshots written before them:
   * the scorer resumes with no run in progress.
   */
  stuck: StuckReadingsSnapshotSchema.optional(),
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
  /** Indices (model order) of sensors whose level the drift baseline is taking off (surprise-baseline.ts). */
  drifted: readonly number[];
  /** Indices (model order) of sensors repeating one reading for longer than in training, with the run in steps (stuck-readings.ts). */
  stuck: { k: number; steps: number }[];
  /** Indices (model order) of sensors whose reading was outside its plausible range (clipped). */
  implausible: number[];
  /** The score exceeds the model's threshold. */
  alert: boolean;
  /** The flow's condition [C] of sensor k (model order): what expected readings are computed from. */
  condition: (k: number) => Float32Array;
  /** The raw readings of the step [K*D] (model order), as scored. */
  observed: Float64Array;
}

/** Expected vs observed readings (raw units) of sensors `ks` (model order) at a streamed step. */
export function stepReadings(m: ScoringModel, step: StepScore, ks: readonly number[]): Reading[][] {
  return expectedReadings(m, step.condition, step.observed, ks);
}

export class StreamScorer {
  private state: EncoderState;
  private readonly K: number;
  private readonly D: number;
  private readonly H: number;
  private readonly C: number;
  private readonly window: TrailingWindow;
  private readonly baseline: SurpriseBaseline;
  private readonly stuck: StuckReadings;

  constructor(private readonly det: ScoringModel, opts: { warmStart?: boolean; snapshot?: ScorerSnapshot } = {}) {
    if (det.config.model.encoder !== 'stateful') throw new Error('stream scoring needs a model trained with model.encoder = "stateful"');
    this.K = det.sensors.length;
    this.D = det.features.length;
    this.H = det.model.shape.hidden;
    this.C = det.model.conditionSize;
    this.window = new TrailingWindow(this.K, det.config.model.scoreWindow);
    if (opts.snapshot) {
      const s = ScorerSnapshotSchema.parse(opts.snapshot);
      if (s.modelVersion !== det.modelVersion) throw new Error(`scorer snapshot is for model ${s.modelVersion}, not ${det.modelVersion}`);
      const n = this.K * this.H;
      this.state = {
        h: tf.tensor2d(f32(s.h, n, 'h'), [this.K, this.H]),
        c: tf.tensor2d(f32(s.c, n, 'c'), [this.K, this.H]),
        x: s.x === undefined ? tf.zeros([this.K, this.D]) : tf.tensor2d(f32(s.x, this.K * this.D, 'x'), [this.K, this.D]),
      };
      this.window.ring.set(f32(s.ring, this.window.ring.length, 'ring'));
      this.window.sums.set(f64(s.sums, this.K, 'sums'));
      this.window.seen = s.seen;
      const fresh = newSurpriseBaseline(det);
      this.baseline = s.baseline ? SurpriseBaseline.restore(this.K, fresh.bucketSteps, s.baseline) : fresh;
      this.stuck = s.stuck ? StuckReadings.restore(det.scaler, s.stuck) : new StuckReadings(det.scaler);
      return;
    }
    this.baseline = newSurpriseBaseline(det);
    this.stuck = new StuckReadings(det.scaler);
    this.state = det.model.zeroState(1);
    if (opts.warmStart) {
      const ctx = seriesFrom(det.context, this.K, this.D);
      const { nll, state } = statefulNll(det.model, ctx, det.config.model.window, det.adjacency, this.state);
      disposeState(this.state);
      this.state = state;
      for (let t = 0; t < ctx.steps; t++) this.window.push(nll, t * this.K);
    }
  }

  /** Steps scored since the (cold or warm) start. */
  get steps(): number {
    return this.window.seen;
  }

  /**
   * One raw step (sensor units), [K*D] in `detector.sensors` order; unread [K] (optional) marks
   * sensors whose value was filled in, not read (a carried-forward gap is not a repeated reading).
   */
  scoreOne(raw: Float64Array | Float32Array | number[], unread?: ArrayLike<number>): StepScore {
    return this.scoreMany(raw, unread)[0];
  }

  /** n raw steps [n*K*D] (sensor units, model order), unread [n*K]: the same numbers as n scoreOne calls, in one model call. */
  scoreMany(raw: Float64Array | Float32Array | number[], unread?: ArrayLike<number>): StepScore[] {
    return StreamScorer.scoreTogether([this], [raw], unread && [unread])[0];
  }

  /**
   * Several independent streams of the same model (e.g. the sites of a partition), n steps each,
   * in ONE model call: their recurrent states are stacked as the model's B parallel streams. Each
   * stream gets the numbers its own scoreMany would give (up to float rounding), at a fraction of
   * the per-step cost when n is small or the model is small.
   */
  static scoreTogether(scorers: StreamScorer[], raws: Array<Float64Array | Float32Array | number[]>, unread?: Array<ArrayLike<number> | undefined>): StepScore[][] {
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
    const observed = raws.map((raw) => Float64Array.from(raw));
    raws.forEach((raw, b) => {
      for (let l = 0; l < n; l++) {
        const z = standardiseRow(Array.isArray(raw) ? raw.slice(l * row, (l + 1) * row) : raw.subarray(l * row, (l + 1) * row), det.scaler, ex);
        for (let k = 0; k < K; k++) {
          for (let d = 0; d < D; d++) x[((l * K + k) * B + b) * D + d] = z[k * D + d];
          excess[(l * K + k) * B + b] = ex[k];
        }
      }
    });
    for (const [b, u] of (unread ?? []).entries()) if (u && u.length !== n * K) throw new Error(`scoreTogether: unread of stream ${b} holds ${u.length} flags, expected ${n * K}`);
    return StreamScorer.scoreChunk(scorers, x, n, excess, observed, unread);
  }

  /**
   * The model call: standardised x [n, K, B, D] for B = scorers.length streams, out-of-range
   * excess [n, K, B], each stream's raw readings [n*K*D] and unread flags [n*K].
   */
  private static scoreChunk(scorers: StreamScorer[], x: Float32Array, n: number, excess: Float32Array, observed: Float64Array[], unread?: Array<ArrayLike<number> | undefined>): StepScore[][] {
    const B = scorers.length;
    const first = scorers[0];
    const { K, D, H, C, det } = first;
    const chunk = tf.tensor4d(x, [n, K, B, D]);
    const state: EncoderState = B === 1 ? first.state : tf.tidy(() => ({
      h: tf.stack(scorers.map((s) => s.state.h), 1).reshape([K * B, H]) as tf.Tensor2D,
      c: tf.stack(scorers.map((s) => s.state.c), 1).reshape([K * B, H]) as tf.Tensor2D,
      x: tf.stack(scorers.map((s) => s.state.x), 1).reshape([K * B, D]) as tf.Tensor2D,
    }));
    const out = det.model.forward(chunk, state, det.adjacency, true);
    const lp = out.logProb.dataSync(); // [n, K, B]
    const cond = out.condition!.dataSync() as Float32Array; // [n, K, B, C]
    tf.dispose([chunk, out.logProb, out.condition]);
    if (B === 1) {
      disposeState(first.state);
      first.state = out.state;
    } else {
      const hs = tf.tidy(() => tf.unstack(out.state.h.reshape([K, B, H]), 1)) as tf.Tensor2D[];
      const cs = tf.tidy(() => tf.unstack(out.state.c.reshape([K, B, H]), 1)) as tf.Tensor2D[];
      const xs = tf.tidy(() => tf.unstack(out.state.x.reshape([K, B, D]), 1)) as tf.Tensor2D[];
      disposeState(state);
      disposeState(out.state);
      scorers.forEach((s, b) => {
        disposeState(s.state);
        s.state = { h: hs[b], c: cs[b], x: xs[b] };
      });
    }
    const spec = aggregateSpec(det);
    return scorers.map((s, b) => {
      const results: StepScore[] = [];
      const nll = new Float32Array(K);
      const stuck = new Float32Array(K);
      const u = unread?.[b];
      for (let t = 0; t < n; t++) {
        for (let k = 0; k < K; k++) {
          const i = (t * K + k) * B + b;
          nll[k] = -lp[i] + excess[i];
        }
        s.window.push(nll);
        const perSensor = new Float32Array(K);
        s.window.mean(perSensor);
        const surprise = new Float32Array(K);
        s.stuck.push(observed[b], t * K * D, u ?? null, t * K, stuck);
        const total = aggregateStep(det.calibration, spec, s.baseline, { values: stuck, offset: 0 }, perSensor, surprise, 0, K);
        const stuckNow: { k: number; steps: number }[] = [];
        for (let k = 0; k < K; k++) if (s.stuck.isStuck(k)) stuckNow.push({ k, steps: s.stuck.run[k] });
        const implausible: number[] = [];
        for (let k = 0; k < K; k++) if (excess[(t * K + k) * B + b] > 0) implausible.push(k);
        // A view into the chunk's conditions: kept only as long as the step is.
        const at = (k: number) => ((t * K + k) * B + b) * C;
        results.push({
          total, perSensor, surprise, drifted: s.baseline.drifted(), stuck: stuckNow, implausible, alert: exceeds(total, det.threshold.value),
          condition: (k) => cond.subarray(at(k), at(k) + C), observed: observed[b].subarray(t * K * D, (t + 1) * K * D),
        });
      }
      return results;
    });
  }

  snapshot(): ScorerSnapshot {
    return {
      modelVersion: this.det.modelVersion,
      seen: this.window.seen,
      ring: b64(this.window.ring),
      sums: b64(this.window.sums),
      h: b64(this.state.h.dataSync() as Float32Array),
      c: b64(this.state.c.dataSync() as Float32Array),
      x: b64(this.state.x.dataSync() as Float32Array),
      baseline: this.baseline.snapshot(),
      stuck: this.stuck.snapshot(),
    };
  }

  dispose(): void {
    disposeState(this.state);
  }
}
