// The detector as users see it (PyOD-style): fit on unlabelled history, score new data, flag steps
// above a label-free threshold, and explain each flagged step by its sensors and their parents.
import { tf, activeBackend } from './flow/tf.ts';
import { GanfModel } from './flow/ganf.ts';
import { seriesFrom, type Series } from './flow/chunks.ts';
import { train, shapeFor, type TrainResult } from './flow/train.ts';
import { scoreSeries } from './scoring/batch-score.ts';
import { aggregateScores, aggregateSpecOf, type AggregateSpec } from './scoring/aggregate.ts';
import { fitCalibration, calibrationMedians, surprises, SURPRISE_SOFT_CAP, type SensorCalibration } from './scoring/calibration.ts';
import { fitThreshold, type ThresholdState } from './scoring/threshold.ts';
import { validationRows } from './scoring/split.ts';
import { fitScaler, applyScaler, keptSensors, checkSensors, unseenConstantValues, rangeExcess, type ScalerState } from './data/preprocess.ts';
import { defaultMaxSteps } from './flow/budget.ts';
import { fillMissing, type MissingReport } from './data/missing.ts';
import { sliceRows, tableLength, DataError, type SeriesTable } from './data/table.ts';
import { graphToJSON, graphFromJSON, parentsOf, type DagGraph } from './dag-learning/extract.ts';
import { loadPrior } from './adapters/prior-file.ts';
import { saveModel, loadModel, fingerprint, libraryVersions } from './adapters/model-files.ts';
import { seededUniform } from './util/rng.ts';
import type { GanfConfig, ThresholdConfig } from './config.ts';

export interface Detector {
  modelVersion: string;
  config: GanfConfig;
  model: GanfModel;
  scaler: ScalerState;
  /** Sensors the model scores (constant ones dropped), in model order. */
  sensors: string[];
  features: string[];
  graph: DagGraph;
  /** Extracted DAG weights the model is conditioned on (row = parent). */
  adjacency: tf.Tensor2D;
  threshold: ThresholdState;
  /** Per-sensor tail models of the validation window NLLs: raw NLL -> calibrated surprise. */
  calibration: SensorCalibration;
  /** The validation window NLLs [T*K] the calibration and threshold were fitted on (kept so both can be refitted without retraining). */
  calibrationScores: Float32Array;
  /** Per-sensor median validation NLL ("excess" is measured from it). */
  calibrationMedians: Float32Array;
  /** Standardised last training rows [Lc, K, D]: warm-up context for data that follows training. */
  context: Float32Array;
  manifestExtras: { createdAt: string; dataFingerprint: string; metrics: Record<string, unknown>; libraries: Record<string, string>; backend: string };
}

export interface Contribution {
  sensor: string;
  /** Calibrated surprise -log P(NLL >= nll) under the sensor's validation distribution (what steps are ranked by). */
  surprise: number;
  /** NLL of this sensor at this step minus its calibration median. */
  excess: number;
  nll: number;
  parents: string[];
  /** Set when the sensor was constant in training and now reads another value (no NLL: it has no model). */
  unseenValue?: true;
}

export interface TableScores {
  timestamps: Float64Array;
  sensors: string[];
  /** Anomaly score per step (model.scoreAggregate over perSensor). */
  total: Float32Array;
  /** Window NLL per step and sensor [T*K]. */
  perSensor: Float32Array;
  /** Calibrated surprise per step and sensor [T*K] (src/scoring/calibration.ts). */
  surprise: Float32Array;
  /** Steps at which a sensor that was constant in training read another value. */
  unseen: { t: number; sensor: string }[];
  /** Steps at which a sensor read a value outside its plausible range (clipped before the model). */
  implausible: { t: number; sensor: string }[];
  alerts: Uint8Array;
  missing: MissingReport;
}

export interface FitReport {
  train: TrainResult;
  /** Whether training started from the given model's parameters (same sensors and model shape). */
  warmStarted: boolean;
  missing: MissingReport;
  trainSteps: number;
  validationSteps: number;
}

/** Whether `from` can initialise a model for `sensors` x `features` with `config`'s shape. */
export function canWarmStart(from: Detector, sensors: string[], features: string[], config: GanfConfig): boolean {
  const a = from.config.model;
  const b = config.model;
  return from.sensors.length === sensors.length && from.sensors.every((s, i) => s === sensors[i]) &&
    from.features.length === features.length && from.features.every((f, i) => f === features[i]) &&
    a.hidden === b.hidden && a.condition === b.condition && a.flowHidden === b.flowHidden &&
    a.flowBlocks === b.flowBlocks && a.transform === b.transform;
}

/**
 * Fits on unlabelled history. With `warmStart` (e.g. the active model, for a refit on recent
 * data) training starts from its parameters when the sensors and model shape match.
 */
export async function fitDetector(
  table: SeriesTable, config: GanfConfig, log: (msg: string) => void = () => {}, warmStart?: Detector,
): Promise<{ detector: Detector; report: FitReport }> {
  const { table: filled, report: missing } = fillMissing(table, config.data.missing);
  const scaler = fitScaler(filled, { plausibleMargin: config.data.plausibleMargin });
  for (const w of scaler.warnings) log(`warning: ${w}`);
  for (const d of scaler.dropped) log(`dropped sensor ${d.sensor}: ${d.reason}`);
  const sensors = keptSensors(scaler);
  const D = filled.features.length;
  const K = sensors.length;
  if (K < 1) throw new DataError({ field: 'sensors', reason: 'no sensor varies in the training data' });
  const T = tableLength(filled);
  const nVal = validationRows(T, config);
  if (T - nVal < config.model.window * 3) {
    throw new DataError({ field: 'train', reason: `${T} rows are too few for window ${config.model.window} with a validation split of ${nVal} rows` });
  }
  // The budget actually used is written into the model's config, so the manifest says it.
  if (config.train.maxSteps === undefined) config = { ...config, train: { ...config.train, maxSteps: defaultMaxSteps(T - nVal) } };
  const rand = seededUniform(config.train.seed ^ 0x5eed);
  const trainData = seriesFrom(applyScaler(sliceRows(filled, 0, T - nVal), scaler, { dequantise: 'random', rng: rand }), K, D);
  const valData = seriesFrom(applyScaler(sliceRows(filled, T - nVal, T), scaler, { dequantise: 'midpoint' }), K, D);
  const prior = config.dag.prior ? await loadPrior(config.dag.prior, sensors) : undefined;

  const warmStarted = warmStart !== undefined && canWarmStart(warmStart, sensors, filled.features, config);
  const result = await train({
    train: trainData, validation: valData, sensors, model: config.model, train_: { ...config.train, maxSteps: config.train.maxSteps! }, dag: config.dag,
    priorMask: prior?.mask, priorInit: prior?.init,
  }, warmStarted ? warmStart.model : undefined);
  const adjacency = tf.tensor2d(result.dagWeights, [K, K]);
  const trainTail = contextOf(trainData, config);
  const valPenalty = rangeExcess(sliceRows(filled, T - nVal, T), scaler);
  const cal = scoreSeries(result.model, valData, { encoder: config.model.encoder, window: config.model.window, scoreWindow: config.model.scoreWindow, adjacency, context: trainTail, penalty: valPenalty });
  const calibration = fitCalibration(cal.perSensor, K);
  const threshold = fitThreshold(aggregateScores(cal.perSensor, surprises(calibration, cal.perSensor, K), K, aggregateSpecOf(config.model, K)), config.threshold);
  if (threshold.fallback) log(`warning: ${threshold.fallback}; using the robust tail threshold ${threshold.value.toPrecision(4)} instead`);
  const fullSeries = seriesFrom(applyScaler(filled, scaler, { dequantise: 'midpoint' }), K, D);
  const detector: Detector = {
    modelVersion: '',
    config,
    model: result.model,
    scaler,
    sensors,
    features: filled.features,
    graph: result.graph,
    adjacency,
    threshold,
    calibration,
    calibrationScores: cal.perSensor,
    calibrationMedians: calibrationMedians(calibration),
    context: contextOf(fullSeries, config).data.slice(),
    manifestExtras: {
      createdAt: new Date().toISOString(),
      dataFingerprint: fingerprint(filled.sensors, filled.values),
      libraries: libraryVersions(),
      backend: activeBackend() ?? 'unknown',
      metrics: {
        steps: result.steps,
        seconds: round(result.seconds),
        windowsPerSecond: round(result.windowsPerSecond),
        bestValidationNll: round(result.bestValidationNll),
        edges: result.graph.size,
        finalAcyclicity: result.lagrangian ? result.lagrangian.hPrev : null,
        trainSteps: trainData.steps,
        validationSteps: valData.steps,
      },
    },
  };
  detector.modelVersion = versionOf(detector);
  return { detector, report: { train: result, warmStarted, missing, trainSteps: trainData.steps, validationSteps: valData.steps } };
}

/** Scores every row causally. With `warmStart`, the model's training tail is used as context (data that directly follows training). */
export function scoreTable(det: Detector, table: SeriesTable, opts: { warmStart?: boolean } = {}): TableScores {
  checkSensors(table, det.scaler);
  const { table: filled, report: missing } = fillMissing(table, det.config.data.missing);
  const K = det.sensors.length;
  const D = det.features.length;
  const series = seriesFrom(applyScaler(filled, det.scaler, { dequantise: 'midpoint' }), K, D);
  const context = opts.warmStart ? seriesFrom(det.context, K, D) : undefined;
  const penalty = rangeExcess(filled, det.scaler);
  const s = scoreSeries(det.model, series, { encoder: det.config.model.encoder, window: det.config.model.window, scoreWindow: det.config.model.scoreWindow, adjacency: det.adjacency, context, penalty });
  const spec = aggregateSpec(det);
  const surprise = surprises(det.calibration, s.perSensor, K);
  const total = aggregateScores(s.perSensor, surprise, K, spec);
  const unseen = unseenConstantValues(filled, det.scaler);
  // A sensor constant in training that moves is as surprising as the calibration can say (the
  // soft cap); it joins the step's sensors as one more (top-k over K + 1 with it counted once).
  // The raw joint NLL has no model of it, so that aggregate is left as it is.
  if (spec.mode !== 'joint') for (const u of unseen) total[u.t] = Math.max(total[u.t], unseenScore(spec, K));
  const alerts = Uint8Array.from(total, (v) => (v > det.threshold.value ? 1 : 0));
  const implausible: { t: number; sensor: string }[] = [];
  for (let i = 0; i < penalty.length; i++) if (penalty[i] > 0) implausible.push({ t: Math.floor(i / K), sensor: det.sensors[i % K] });
  return { timestamps: filled.timestamps, sensors: det.sensors, total, perSensor: s.perSensor, surprise, unseen, implausible, alerts, missing };
}

/** The aggregate a detector's config asks for, with top-k's default k resolved for its K sensors. */
export function aggregateSpec(det: Pick<Detector, 'config' | 'sensors'>): AggregateSpec {
  return aggregateSpecOf(det.config.model, det.sensors.length);
}

/** Lower bound of a step's score when a constant-in-training sensor reads a new value. */
function unseenScore(spec: AggregateSpec, K: number): number {
  return spec.mode === 'max-sensor' ? SURPRISE_SOFT_CAP : SURPRISE_SOFT_CAP / Math.min(spec.k, K + 1);
}

/**
 * The same model with another score aggregate and/or threshold setting: calibration and threshold
 * are refitted from the stored validation NLLs, no retraining. Returns a new detector sharing the model.
 */
export function recalibrate(det: Detector, change: { scoreAggregate?: GanfConfig['model']['scoreAggregate']; scoreTopK?: number; threshold?: Partial<ThresholdConfig> }, log: (msg: string) => void = () => {}): Detector {
  const config: GanfConfig = {
    ...det.config,
    model: { ...det.config.model, ...(change.scoreAggregate ? { scoreAggregate: change.scoreAggregate } : {}), ...(change.scoreTopK ? { scoreTopK: change.scoreTopK } : {}) },
    threshold: { ...det.config.threshold, ...change.threshold },
  };
  const K = det.sensors.length;
  const calibration = fitCalibration(det.calibrationScores, K);
  const threshold = fitThreshold(aggregateScores(det.calibrationScores, surprises(calibration, det.calibrationScores, K), K, aggregateSpecOf(config.model, K)), config.threshold);
  if (threshold.fallback) log(`warning: ${threshold.fallback}; using the robust tail threshold ${threshold.value.toPrecision(4)} instead`);
  const out: Detector = { ...det, config, calibration, threshold, calibrationMedians: calibrationMedians(calibration) };
  out.modelVersion = versionOf(out);
  return out;
}

/** The sensors that drove step t, most surprising first, with their parents in the DAG. */
export function topContributors(det: Detector, scores: Pick<TableScores, 'perSensor' | 'surprise' | 'unseen'>, t: number, n = 3): Contribution[] {
  const K = det.sensors.length;
  const rows: Contribution[] = [];
  for (let k = 0; k < K; k++) {
    const nll = scores.perSensor[t * K + k];
    rows.push({ sensor: det.sensors[k], surprise: scores.surprise[t * K + k], nll, excess: nll - det.calibrationMedians[k], parents: [] });
  }
  for (const u of scores.unseen) {
    if (u.t === t) rows.push({ sensor: u.sensor, surprise: SURPRISE_SOFT_CAP, nll: NaN, excess: NaN, parents: [], unseenValue: true });
  }
  rows.sort((a, b) => b.surprise - a.surprise || b.excess - a.excess);
  return rows.slice(0, n).map((r) => ({ ...r, parents: r.unseenValue ? [] : parentsOf(det.graph, r.sensor) }));
}

export async function saveDetector(det: Detector, dir: string): Promise<void> {
  const { specs, blob } = det.model.store.serialise();
  const { createdAt, dataFingerprint, metrics, libraries, backend } = det.manifestExtras;
  await saveModel(dir, {
    manifest: {
      modelVersion: det.modelVersion, createdAt, sensors: det.sensors, features: det.features, config: det.config,
      dataFingerprint, libraries, backend, threshold: det.threshold,
      calibration: det.calibration, metrics,
    },
    params: specs, weights: blob, graph: graphToJSON(det.graph), scaler: det.scaler, context: det.context,
    calibrationScores: det.calibrationScores,
  });
}

export async function loadDetector(dir: string): Promise<Detector> {
  const a = await loadModel(dir);
  const m = a.manifest;
  const K = m.sensors.length;
  const model = new GanfModel(shapeFor(K, m.features.length, m.config.model), m.config.train.seed);
  model.store.deserialise(a.params, a.weights);
  const graph = graphFromJSON(a.graph, m.sensors);
  return {
    modelVersion: m.modelVersion,
    config: m.config,
    model,
    scaler: a.scaler,
    sensors: m.sensors,
    features: m.features,
    graph,
    adjacency: model.adjacency.clone() as tf.Tensor2D,
    threshold: m.threshold,
    calibration: m.calibration,
    calibrationScores: a.calibrationScores,
    calibrationMedians: calibrationMedians(m.calibration),
    context: a.context,
    manifestExtras: { createdAt: m.createdAt, dataFingerprint: m.dataFingerprint, metrics: m.metrics, libraries: m.libraries, backend: m.backend },
  };
}

function contextOf(s: Series, config: GanfConfig): Series {
  const n = Math.min(s.steps, Math.max(config.model.window, config.train.burnIn ?? config.model.window));
  const w = s.sensors * s.features;
  return { ...s, steps: n, data: s.data.subarray((s.steps - n) * w) };
}

/** Content-derived version: the same training run always gets the same id. */
function versionOf(det: Detector): string {
  const { blob } = det.model.store.serialise();
  // The scoring settings are part of the identity: a recalibrated model scores differently.
  const scoring = JSON.stringify({ aggregate: aggregateSpec(det), threshold: det.threshold.value });
  return `${det.manifestExtras.createdAt.slice(0, 10).replaceAll('-', '')}-${fingerprint([...det.sensors, scoring], new Float32Array(blob.buffer, blob.byteOffset, blob.byteLength / 4)).slice(7, 19)}`;
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}
