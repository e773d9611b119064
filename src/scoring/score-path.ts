// The scoring path, implemented once: prepare -> score -> aggregate -> threshold.
//  - prepare: `standardise` (a table; fitting's validation split too) and standardiseRow (one
//    streamed step; src/data/preprocess.ts): the scaler's midpoint standardisation, clipped to
//    the plausible range, with the out-of-range part kept as an NLL penalty;
//  - score: the model's per-sensor NLL (src/flow/nll.ts) + penalty, averaged over the trailing
//    score window (TrailingWindow, batch-score.ts);
//  - aggregate: per-sensor calibrated surprises, made drift-tolerant by the series' baseline
//    (surprise-baseline.ts), raised to the stuck-reading surprise where a sensor repeats a reading
//    for longer than it did in training (stuck-readings.ts), then the model's score aggregate
//    (aggregateStep);
//  - threshold: exceeds() (threshold.ts), the only place a score is compared with a threshold.
// Batch (scoreTable: backtests, `ganf score`, POST /score), the stream (StreamScorer), shadow
// scoring of refit candidates and validation (fitDetector / recalibrate) all compose these.
import { seriesFrom, type Series } from '../flow/chunks.ts';
import { scoreSeries, type SeriesScores } from './batch-score.ts';
import { aggregateRow, aggregateSpecOf, type AggregateSpec } from './aggregate.ts';
import { fitCalibration, surpriseRow, SURPRISE_SOFT_CAP, type SensorCalibration } from './calibration.ts';
import { exceeds, fitThreshold, type ThresholdState } from './threshold.ts';
import { baselineBucketSteps, SurpriseBaseline } from './surprise-baseline.ts';
import { StuckReadings } from './stuck-readings.ts';
import { applyScaler, checkSensors, rangeExcess, unseenConstantValues, unstandardise, type ScalerState } from '../data/preprocess.ts';
import { fillMissing, type MissingReport } from '../data/missing.ts';
import { selectSensors, type SeriesTable } from '../data/table.ts';
import { parentsOf } from '../dag-learning/extract.ts';
import type { Contribution, ScoringModel, TableScores } from './scoring-model.ts';
import type { Reading } from './alert.ts';
import type { GanfConfig, ThresholdConfig } from '../config.ts';

/** The aggregate a model's config asks for, with top-k's default k resolved for its K sensors. */
export function aggregateSpec(m: Pick<ScoringModel, 'config' | 'sensors'>): AggregateSpec {
  return aggregateSpecOf(m.config.model, m.sensors.length);
}

/** Prepare, for a gap-filled table: the model's input series and the out-of-range penalty [T*K]. */
export function standardise(filled: SeriesTable, scaler: ScalerState, K: number): { series: Series; penalty: Float32Array } {
  return {
    series: seriesFrom(applyScaler(filled, scaler, { dequantise: 'midpoint' }), K, filled.features.length),
    penalty: rangeExcess(filled, scaler),
  };
}

export interface PreparedTable {
  filled: SeriesTable;
  missing: MissingReport;
  /** [T*K] in model order: 1 where a sensor's value was filled in, not read (fillMissing). */
  unread: Uint8Array;
  series: Series;
  penalty: Float32Array;
}

/** Prepare, for a raw table: sensor check, the model's missing-value policy, standardise. */
export function prepareTable(m: ScoringModel, table: SeriesTable): PreparedTable {
  checkSensors(table, m.scaler);
  const { table: filled, report: missing, filledCells } = fillMissing(table, m.config.data.missing);
  const D = filled.features.length;
  const cells = selectSensors({ ...filled, values: Float32Array.from(filledCells) }, m.sensors).values;
  const unread = new Uint8Array(cells.length / D);
  for (let i = 0; i < cells.length; i++) if (cells[i]) unread[Math.floor(i / D)] = 1;
  return { filled, missing, unread, ...standardise(filled, m.scaler, m.sensors.length) };
}

/** Score, for a prepared series: window NLLs, with `context` (standardised steps right before it) as warm-up. */
function scorePrepared(m: ScoringModel, p: Pick<PreparedTable, 'series' | 'penalty'>, opts: { context?: Series; onCondition?: (t: number, condition: Float32Array) => void } = {}): SeriesScores {
  const mc = m.config.model;
  return scoreSeries(m.model, p.series, {
    encoder: mc.encoder, window: mc.window, scoreWindow: mc.scoreWindow, adjacency: m.adjacency, context: opts.context, penalty: p.penalty, onCondition: opts.onCondition,
  });
}

/**
 * The drift baseline a scored series starts with (one per series: batch table, stream scorer).
 * Models fitted before the baseline have no bucket size in their config: their declared interval gives it.
 */
export function newSurpriseBaseline(m: Pick<ScoringModel, 'config' | 'sensors'>): SurpriseBaseline {
  return new SurpriseBaseline(m.sensors.length, m.config.model.baselineBucketSteps ?? baselineBucketSteps(m.config.data.intervalMs));
}

/**
 * Aggregate, one step: the calibrated surprises of its K window NLLs perSensor[offset..offset+K)
 * into surprise[offset..offset+K) (float32, as reported), made drift-tolerant by the series'
 * baseline (which takes the step in), each raised to the sensor's stuck-reading surprise
 * stuck.values[stuck.offset .. +K) when that is larger, and its score computed from those (the
 * `joint` aggregate reads the raw NLLs: it has no model of a stuck sensor, as of an unseen
 * value). A stuck sensor is outside the baseline: it stays a fault however long it lasts. Validation steps are aggregated
 * without a baseline or stuck readings (null): they are what both are measured from.
 */
export function aggregateStep(cal: SensorCalibration, spec: AggregateSpec, baseline: SurpriseBaseline | null, stuck: { values: ArrayLike<number>; offset: number } | null, perSensor: ArrayLike<number>, surprise: Float32Array, offset: number, K: number, scratch?: Float64Array): number {
  const row = surprise.subarray(offset, offset + K);
  surpriseRow(cal, perSensor, offset, K, row);
  baseline?.adjust(row);
  if (stuck) for (let k = 0; k < K; k++) if (stuck.values[stuck.offset + k] > row[k]) row[k] = stuck.values[stuck.offset + k];
  return aggregateRow(perSensor, surprise, offset, K, spec, scratch);
}

/** Aggregate, every step of [T*K] window NLLs in order (stuck: [T*K] or null): surprises [T*K] and scores [T]. */
function aggregateSteps(cal: SensorCalibration, spec: AggregateSpec, baseline: SurpriseBaseline | null, stuck: Float32Array | null, perSensor: Float32Array, K: number): { surprise: Float32Array; total: Float32Array } {
  const T = perSensor.length / K;
  const surprise = new Float32Array(perSensor.length);
  const total = new Float32Array(T);
  const scratch = new Float64Array(K);
  for (let t = 0; t < T; t++) total[t] = aggregateStep(cal, spec, baseline, stuck && { values: stuck, offset: t * K }, perSensor, surprise, t * K, K, scratch);
  return { surprise, total };
}

/** The stuck-reading surprises [T*K] of a prepared table's readings, and the (step, sensor, run) cells that are stuck. */
function stuckReadings(m: ScoringModel, p: PreparedTable): { values: Float32Array; cells: { t: number; sensor: string; steps: number }[] } {
  const K = m.sensors.length;
  const D = m.features.length;
  const readings = selectSensors(p.filled, m.sensors).values;
  const T = readings.length / (K * D);
  const tracker = new StuckReadings(m.scaler);
  const values = new Float32Array(T * K);
  const cells: { t: number; sensor: string; steps: number }[] = [];
  for (let t = 0; t < T; t++) {
    tracker.push(readings, t * K * D, p.unread, t * K, values.subarray(t * K, (t + 1) * K));
    for (let k = 0; k < K; k++) if (tracker.isStuck(k)) cells.push({ t, sensor: m.sensors[k], steps: tracker.run[k] });
  }
  return { values, cells };
}

/**
 * Scores every row causally: the whole path for a table. The context (warm-up, never scored) is
 * the model's training tail with `warmStart` (data that directly follows training), or the raw
 * rows `context` right before the table. With `expected` (every step, or the steps given), the
 * scores keep what expectedReadingsAt needs: those steps' flow conditions and the raw readings.
 */
export function scoreTable(m: ScoringModel, table: SeriesTable, opts: { warmStart?: boolean; context?: SeriesTable; expected?: boolean | ReadonlySet<number> } = {}): TableScores {
  const K = m.sensors.length;
  const p = prepareTable(m, table);
  if (opts.warmStart && opts.context) throw new Error('scoreTable: warmStart and context are exclusive');
  const context = opts.warmStart ? seriesFrom(m.context, K, m.features.length) : opts.context ? prepareTable(m, opts.context).series : undefined;
  const keep = opts.expected;
  const conditions = new Map<number, Float32Array>();
  const onCondition = keep ? (t: number, c: Float32Array) => { if (keep === true || keep.has(t)) conditions.set(t, c.slice()); } : undefined;
  const s = scorePrepared(m, p, { context, onCondition });
  const spec = aggregateSpec(m);
  const baseline = newSurpriseBaseline(m);
  const stuck = stuckReadings(m, p);
  const { surprise, total } = aggregateSteps(m.calibration, spec, baseline, stuck.values, s.perSensor, K);
  const drifted = baseline.drifted().map((k) => ({ sensor: m.sensors[k], shift: baseline.shift[k] })).sort((a, b) => b.shift - a.shift);
  const unseen = unseenConstantValues(p.filled, m.scaler);
  // A sensor constant in training that moves is as surprising as the calibration can say (the
  // soft cap); it joins the step's sensors as one more (top-k over K + 1 with it counted once).
  // The raw joint NLL has no model of it, so that aggregate is left as it is.
  if (spec.mode !== 'joint') for (const u of unseen) total[u.t] = Math.max(total[u.t], unseenScore(spec, K));
  const alerts = Uint8Array.from(total, (v) => (exceeds(v, m.threshold.value) ? 1 : 0));
  const implausible: { t: number; sensor: string }[] = [];
  for (let i = 0; i < p.penalty.length; i++) if (p.penalty[i] > 0) implausible.push({ t: Math.floor(i / K), sensor: m.sensors[i % K] });
  return {
    timestamps: p.filled.timestamps, sensors: m.sensors, total, perSensor: s.perSensor, surprise, drifted, unseen, stuck: stuck.cells, implausible, alerts, missing: p.missing,
    ...(keep ? { expected: { conditions, observed: selectSensors(p.filled, m.sensors).values } } : {}),
  };
}

/** Lower bound of a step's score when a constant-in-training sensor reads a new value. */
function unseenScore(spec: AggregateSpec, K: number): number {
  return spec.mode === 'max-sensor' ? SURPRISE_SOFT_CAP : SURPRISE_SOFT_CAP / Math.min(spec.k, K + 1);
}

/** The sensors that drove step t, most surprising first, with their parents in the DAG. */
export function topContributors(m: ScoringModel, scores: Pick<TableScores, 'perSensor' | 'surprise' | 'unseen' | 'stuck'>, t: number, n = 3): Contribution[] {
  const K = m.sensors.length;
  const rows: Contribution[] = [];
  const stuckFor = new Map(scores.stuck.filter((c) => c.t === t).map((c) => [c.sensor, c.steps] as const));
  for (let k = 0; k < K; k++) {
    const nll = scores.perSensor[t * K + k];
    const steps = stuckFor.get(m.sensors[k]);
    rows.push({ sensor: m.sensors[k], surprise: scores.surprise[t * K + k], nll, excess: nll - m.calibrationMedians[k], parents: [], ...(steps ? { stuckSteps: steps } : {}) });
  }
  for (const u of scores.unseen) {
    if (u.t === t) rows.push({ sensor: u.sensor, surprise: SURPRISE_SOFT_CAP, nll: NaN, excess: NaN, parents: [], unseenValue: true });
  }
  rows.sort((a, b) => b.surprise - a.surprise || b.excess - a.excess);
  return rows.slice(0, n).map((r) => ({ ...r, parents: r.unseenValue ? [] : parentsOf(m.graph, r.sensor) }));
}

/**
 * Expected and observed readings (raw units) of sensors `ks` (model order) at one step, from that
 * step's flow condition of each sensor ([C]) and raw readings [K*D]. Expected = the flow's
 * conditional median given the sensor's history and parents (GanfModel.median), mapped back
 * through the scaler; observed = the reading as scored (gap-filled, not clipped). One model call
 * for all of `ks`.
 */
export function expectedReadings(m: ScoringModel, condition: (k: number) => Float32Array, observed: ArrayLike<number>, ks: readonly number[]): Reading[][] {
  if (ks.length === 0) return [];
  const C = m.model.conditionSize;
  const D = m.features.length;
  const rows = new Float32Array(ks.length * C);
  ks.forEach((k, i) => rows.set(condition(k), i * C));
  const z = m.model.median(rows, ks.length);
  return ks.map((k, i) => m.features.map((feature, d) => ({
    feature, expected: unstandardise(z[i * D + d], m.scaler.kept[k].features[d]), observed: observed[k * D + d],
  })));
}

/** expectedReadings at step t of batch scores computed with scoreTable's `expected` (covering t). */
export function expectedReadingsAt(m: ScoringModel, s: TableScores, t: number, ks: readonly number[]): Reading[][] {
  const conditions = s.expected?.conditions.get(t);
  if (!conditions) throw new Error(`expectedReadingsAt: step ${t} was not scored with scoreTable's expected`);
  const KD = m.sensors.length * m.features.length;
  const C = m.model.conditionSize;
  return expectedReadings(m, (k) => conditions.subarray(k * C, (k + 1) * C), s.expected!.observed.subarray(t * KD, (t + 1) * KD), ks);
}

/**
 * Validation: the per-sensor calibration and the label-free threshold fitted on validation window
 * NLLs [T*K] (fitting a detector, and recalibrating one with another aggregate or threshold).
 */
export function calibrate(perSensor: Float32Array, K: number, model: GanfConfig['model'], threshold: ThresholdConfig): { calibration: SensorCalibration; threshold: ThresholdState } {
  const calibration = fitCalibration(perSensor, K);
  return { calibration, threshold: fitThreshold(aggregateSteps(calibration, aggregateSpecOf(model, K), null, null, perSensor, K).total, threshold) };
}
