// The live scoring seam between the stream and the model registry. It scores one step at a time
// with a StreamScorer of the active model, keeps the recent raw steps (warm-up on a model swap and
// the refit buffer), feeds the drift monitors, and hands over to a newly promoted model between two
// steps: the new model's scorer first replays the last `warmupSteps` steps (their scores are
// discarded, those steps were already scored by the old model), then takes the next step. Steps
// carry a sequence number and the version that scored them; a step is scored exactly once.
import { EventEmitter } from 'node:events';
import { StreamScorer } from '../../scoring/stream-scorer.ts';
import { standardiseRow } from '../../ingest/preprocess.ts';
import { topContributors, type Contribution, type Detector } from '../../detector.ts';
import { DataError, type SeriesTable } from '../../ingest/table.ts';
import { DriftMonitor, type DriftConfig } from '../drift.ts';
import type { ModelRegistry } from '../models/registry.ts';
import type { ApiMetrics } from '../metrics.ts';
import { HttpProblem } from '../problems.ts';

export interface LiveStep {
  timestamp: number;
  /** Sensor -> value (number, or an array of D values). */
  values: Record<string, number | number[]>;
}

export interface ScoredStep {
  seq: number;
  timestamp: number;
  modelVersion: string;
  total: number;
  alert: boolean;
  top: Contribution[];
}

interface Active {
  det: Detector;
  scorer: StreamScorer;
  drift: DriftMonitor;
}

export interface LiveScorerOptions {
  bufferSteps: number;
  warmupSteps: number;
  drift: DriftConfig;
  metrics?: ApiMetrics;
}

export class LiveScorer extends EventEmitter {
  private active: Active | null = null;
  private seq = 0;
  private lastTimestamp = -Infinity;
  /** Ring of recent raw rows in `inputSensors` order (K_in * D each). */
  private ring: Float32Array | null = null;
  private ringTimes: Float64Array;
  private ringCount = 0;
  private inputSensors: string[] | null = null;
  private features = 1;
  private readonly detach: () => void;

  constructor(registry: ModelRegistry, private readonly opts: LiveScorerOptions) {
    super();
    this.ringTimes = new Float64Array(opts.bufferSteps);
    const det = registry.activeDetector();
    if (det) this.active = this.build(det, true);
    this.detach = registry.addPreparer((next) => {
      const preparedAt = this.seq;
      const warmed = Math.min(this.opts.warmupSteps, this.ringCount);
      const prepared = this.build(next, false);
      return () => {
        // Steps scored between prepare and commit (the pointer write is asynchronous) are
        // replayed too, so the new scorer's state ends exactly where the old one's does.
        const behind = this.seq - preparedAt;
        if (behind > 0) {
          try {
            prepared.scorer.scoreMany(this.rawFor(prepared.det, behind));
          } catch {
            // Cannot happen for a model that passed build() on the same stream.
          }
        }
        const old = this.active;
        this.active = prepared;
        old?.scorer.dispose();
        this.emit('swapped', { from: old?.det.modelVersion ?? null, to: next.modelVersion, atSeq: this.seq, warmupFromSeq: preparedAt - warmed });
      };
    });
  }

  get modelVersion(): string | null {
    return this.active?.det.modelVersion ?? null;
  }

  get lastSeq(): number {
    return this.seq;
  }

  drift(): DriftMonitor | null {
    return this.active?.drift ?? null;
  }

  /** Scores one step. Steps must come in strictly increasing time. */
  score(step: LiveStep): ScoredStep {
    const a = this.active;
    if (!a) throw new HttpProblem(503, 'no model is active');
    if (!(step.timestamp > this.lastTimestamp)) {
      throw new DataError({ field: 'timestamp', reason: `step at ${new Date(step.timestamp).toISOString()} is not after the last scored step (${new Date(this.lastTimestamp).toISOString()}); it was already scored or is out of order` });
    }
    const started = performance.now();
    const row = this.inputRow(step);
    const raw = this.project(row, a.det);
    const x = standardiseRow(raw, a.det.scaler);
    const s = a.scorer.scoreOne(raw);
    this.push(step.timestamp, row);
    this.lastTimestamp = step.timestamp;
    this.seq++;
    a.drift.observe(s.total, x, step.timestamp);
    const K = a.det.sensors.length;
    const top = topContributors(a.det, { perSensor: s.perSensor, surprise: s.surprise, unseen: [] }, 0, Math.min(3, K));
    const out: ScoredStep = { seq: this.seq, timestamp: step.timestamp, modelVersion: a.det.modelVersion, total: s.total, alert: s.alert, top };
    this.opts.metrics?.stepsScored.inc({ model_version: a.det.modelVersion, source: 'stream' });
    this.opts.metrics?.scoringLatency.observe({ source: 'stream' }, (performance.now() - started) / 1000);
    this.emit('scored', out);
    return out;
  }

  /** The buffered recent raw steps, oldest first (the refit buffer). */
  recent(n = this.ringCount): SeriesTable {
    if (!this.ring || !this.inputSensors) throw new DataError({ field: 'buffer', reason: 'no steps have been scored yet' });
    const B = this.opts.bufferSteps;
    const w = this.inputSensors.length * this.features;
    const m = Math.min(n, this.ringCount, B);
    const values = new Float32Array(m * w);
    const timestamps = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      const slot = (this.ringCount - m + i) % B;
      values.set(this.ring.subarray(slot * w, (slot + 1) * w), i * w);
      timestamps[i] = this.ringTimes[slot];
    }
    const features = this.active?.det.features ?? ['value'];
    return { timestamps, sensors: [...this.inputSensors], features: [...features], values };
  }

  close(): void {
    this.detach();
    this.active?.scorer.dispose();
    this.active = null;
  }

  // ------------------------------------------------------------------------------------------

  private build(det: Detector, initial: boolean): Active {
    const scorer = new StreamScorer(det, { warmStart: initial && this.ringCount === 0 });
    try {
      const n = Math.min(this.opts.warmupSteps, this.ringCount);
      if (n > 0) scorer.scoreMany(this.rawFor(det, n));
    } catch (err) {
      scorer.dispose();
      throw err;
    }
    const drift = new DriftMonitor(this.opts.drift, det.modelVersion, det.threshold, det.sensors, det.features.length, det.config.model.scoreWindow);
    drift.on('drift', (state) => this.emit('drift', state));
    return { det, scorer, drift };
  }

  /** The last n buffered raw steps, projected to `det`'s sensors: [n * K * D]. */
  private rawFor(det: Detector, n: number): Float32Array {
    const recent = this.recent(n);
    const m = recent.timestamps.length;
    const K = det.sensors.length * det.features.length;
    const raw = new Float32Array(m * K);
    const w = recent.sensors.length * recent.features.length;
    for (let t = 0; t < m; t++) raw.set(this.project(recent.values.subarray(t * w, (t + 1) * w), det), t * K);
    return raw;
  }

  private inputRow(step: LiveStep): Float32Array {
    const D = this.active!.det.features.length;
    if (!this.inputSensors) {
      this.inputSensors = Object.keys(step.values);
      this.features = D;
      this.ring = new Float32Array(this.opts.bufferSteps * this.inputSensors.length * D);
    }
    const row = new Float32Array(this.inputSensors.length * D);
    this.inputSensors.forEach((s, k) => {
      const v = step.values[s];
      if (v === undefined) throw new DataError({ field: `values.${s}`, reason: 'sensor missing from the step' });
      const arr = Array.isArray(v) ? v : [v];
      if (arr.length !== D) throw new DataError({ field: `values.${s}`, reason: `expected ${D} value(s)` });
      arr.forEach((x, d) => {
        if (!Number.isFinite(x)) throw new DataError({ field: `values.${s}`, reason: `value ${x} is not a finite number` });
        row[k * D + d] = x;
      });
    });
    return row;
  }

  /** Input row -> the model's kept sensors in model order. */
  private project(row: ArrayLike<number>, det: Detector): Float32Array {
    const D = det.features.length;
    const pos = new Map(this.inputSensors!.map((s, i) => [s, i]));
    const out = new Float32Array(det.sensors.length * D);
    det.sensors.forEach((s, j) => {
      const i = pos.get(s);
      if (i === undefined) throw new DataError({ field: 'sensors', reason: `the stream has no sensor ${s} that model ${det.modelVersion} needs` });
      for (let d = 0; d < D; d++) out[j * D + d] = row[i * D + d];
    });
    return out;
  }

  private push(t: number, row: Float32Array): void {
    const B = this.opts.bufferSteps;
    const slot = this.ringCount % B;
    this.ring!.set(row, slot * row.length);
    this.ringTimes[slot] = t;
    this.ringCount++;
  }
}
