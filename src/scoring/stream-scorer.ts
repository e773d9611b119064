// Online scoring, one time step at a time (River's score_one): the encoder state and the
// trailing score window are carried, so each new step costs one LSTM cell update per sensor and
// the numbers equal batch scoring of the same series (test/stream-scorer.test.ts).
import { tf } from '../flow/tf.ts';
import { disposeState, type EncoderState } from '../flow/ganf.ts';
import { chunkTensor, seriesFrom } from '../flow/chunks.ts';
import { statefulNll } from './batch-score.ts';
import { aggregateRow } from './aggregate.ts';
import type { Detector } from '../detector.ts';
import { standardiseRow } from '../ingest/preprocess.ts';

export interface StepScore {
  /** Anomaly score: per-sensor window NLL aggregated as the model says, as in batch scoring. */
  total: number;
  /** Per-sensor window NLL, in `detector.sensors` order. */
  perSensor: Float32Array;
  alert: boolean;
}

export class StreamScorer {
  private state: EncoderState;
  private readonly K: number;
  private readonly D: number;
  private readonly w: number;
  private readonly ring: Float32Array; // last w per-sensor NLL rows
  private readonly sums: Float64Array;
  private seen = 0;

  /** With `warmStart`, the stream continues from the end of the training data. */
  constructor(private readonly det: Detector, opts: { warmStart?: boolean } = {}) {
    if (det.config.model.encoder !== 'stateful') throw new Error('stream scoring needs a model trained with model.encoder = "stateful"');
    this.K = det.sensors.length;
    this.D = det.features.length;
    this.w = det.config.model.scoreWindow;
    this.ring = new Float32Array(this.w * this.K);
    this.sums = new Float64Array(this.K);
    this.state = det.model.zeroState(1);
    if (opts.warmStart) {
      const ctx = seriesFrom(det.context, this.K, this.D);
      const { nll, state } = statefulNll(det.model, ctx, det.config.model.window, det.adjacency, this.state);
      disposeState(this.state);
      this.state = state;
      for (let t = 0; t < ctx.steps; t++) this.push(nll.subarray(t * this.K, (t + 1) * this.K));
    }
  }

  /** One raw step (sensor units), [K*D] in `detector.sensors` order. */
  scoreOne(raw: ArrayLike<number>): StepScore {
    return this.scoreStandardised(standardiseRow(raw, this.det.scaler));
  }

  /** Several raw steps at once, [n*K*D]: the same numbers as n scoreOne calls, one model call. */
  scoreMany(raw: ArrayLike<number>): StepScore[] {
    const row = this.K * this.D;
    if (raw.length % row !== 0) throw new Error(`expected a multiple of ${row} values, got ${raw.length}`);
    const x = new Float32Array(raw.length);
    for (let i = 0; i < raw.length; i += row) x.set(standardiseRow(Array.prototype.slice.call(raw, i, i + row), this.det.scaler), i);
    return this.scoreStandardisedMany(x);
  }

  /** One standardised step, [K*D] in model sensor order. */
  scoreStandardised(x: Float32Array): StepScore {
    return this.scoreStandardisedMany(x)[0];
  }

  /** n standardised steps [n*K*D]: one chunk through the model (catching up on a backlog costs far less per step). */
  scoreStandardisedMany(x: Float32Array): StepScore[] {
    const n = x.length / (this.K * this.D);
    const chunk = chunkTensor({ data: x, steps: n, sensors: this.K, features: this.D }, [0], n);
    const out = this.det.model.forward(chunk, this.state, this.det.adjacency);
    const lp = out.logProb.dataSync(); // [n, K, 1]
    tf.dispose([chunk, out.logProb]);
    disposeState(this.state);
    this.state = out.state;
    const results: StepScore[] = [];
    for (let t = 0; t < n; t++) {
      const nll = new Float32Array(this.K);
      for (let k = 0; k < this.K; k++) nll[k] = -lp[t * this.K + k];
      this.push(nll);
      const m = Math.min(this.seen, this.w);
      const perSensor = Float32Array.from(this.sums, (s) => s / m);
      const total = aggregateRow(perSensor, 0, this.K, this.det.calibrationMedians, this.det.config.model.scoreAggregate);
      results.push({ total, perSensor, alert: total > this.det.threshold.value });
    }
    return results;
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

  dispose(): void {
    disposeState(this.state);
  }
}
