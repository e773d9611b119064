// The detector as users see it (PyOD-style): fit on unlabelled history, score new data, flag steps
// above a label-free threshold, and explain each flagged step by its sensors and their parents.
import { tf, activeBackend } from './flow/tf.ts';
import { GanfModel } from './flow/ganf.ts';
import { seriesFrom, type Series } from './flow/chunks.ts';
import { train, shapeFor, type TrainResult } from './flow/train.ts';
import { scoreSeries } from './scoring/batch-score.ts';
import { aggregateScores } from './scoring/aggregate.ts';
import { spotThreshold, quantileThreshold, type ThresholdState } from './scoring/threshold.ts';
import { fitScaler, applyScaler, keptSensors, checkSensors, type ScalerState } from './ingest/preprocess.ts';
import { fillMissing, type MissingReport } from './ingest/missing.ts';
import { sliceRows, tableLength, DataError, type SeriesTable } from './ingest/table.ts';
import { graphToJSON, graphFromJSON, parentsOf, type DagGraph } from './dag-learning/extract.ts';
import { loadPrior } from './dag-learning/prior.ts';
import { saveModel, loadModel, fingerprint, libraryVersions } from './model-files.ts';
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
  calibrationMedians: Float32Array;
  /** Standardised last training rows [Lc, K, D]: warm-up context for data that follows training. */
  context: Float32Array;
  manifestExtras: { createdAt: string; dataFingerprint: string; metrics: Record<string, unknown>; libraries: Record<string, string>; backend: string };
}

export interface Contribution {
  sensor: string;
  /** NLL of this sensor at this step minus its calibration median. */
  excess: number;
  nll: number;
  parents: string[];
}

export interface TableScores {
  timestamps: Float64Array;
  sensors: string[];
  /** Anomaly score per step (model.scoreAggregate over perSensor). */
  total: Float32Array;
  perSensor: Float32Array;
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
  const scaler = fitScaler(filled);
  for (const w of scaler.warnings) log(`warning: ${w}`);
  for (const d of scaler.dropped) log(`dropped sensor ${d.sensor}: ${d.reason}`);
  const sensors = keptSensors(scaler);
  const D = filled.features.length;
  const K = sensors.length;
  if (K < 1) throw new DataError({ field: 'sensors', reason: 'no sensor varies in the training data' });
  const T = tableLength(filled);
  const nVal = Math.max(config.model.window * 2, Math.round(T * config.train.validationFraction));
  if (T - nVal < config.model.window * 3) {
    throw new DataError({ field: 'train', reason: `${T} rows are too few for window ${config.model.window} with a validation split of ${nVal} rows` });
  }
  const rand = seededUniform(config.train.seed ^ 0x5eed);
  const trainData = seriesFrom(applyScaler(sliceRows(filled, 0, T - nVal), scaler, { dequantise: 'random', rng: rand }), K, D);
  const valData = seriesFrom(applyScaler(sliceRows(filled, T - nVal, T), scaler, { dequantise: 'midpoint' }), K, D);
  const prior = config.dag.prior ? await loadPrior(config.dag.prior, sensors) : undefined;

  const warmStarted = warmStart !== undefined && canWarmStart(warmStart, sensors, filled.features, config);
  const result = await train({
    train: trainData, validation: valData, sensors, model: config.model, train_: config.train, dag: config.dag,
    priorMask: prior?.mask, priorInit: prior?.init,
  }, warmStarted ? warmStart.model : undefined);
  const adjacency = tf.tensor2d(result.dagWeights, [K, K]);
  const trainTail = contextOf(trainData, config);
  const cal = scoreSeries(result.model, valData, { encoder: config.model.encoder, window: config.model.window, scoreWindow: config.model.scoreWindow, adjacency, context: trainTail });
  const calibrationMedians = medians(cal.perSensor, K);
  const threshold = fitThreshold(aggregateScores(cal.perSensor, K, calibrationMedians, config.model.scoreAggregate), config.threshold);
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
    calibrationMedians,
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
  const s = scoreSeries(det.model, series, { encoder: det.config.model.encoder, window: det.config.model.window, scoreWindow: det.config.model.scoreWindow, adjacency: det.adjacency, context });
  const total = aggregateScores(s.perSensor, K, det.calibrationMedians, det.config.model.scoreAggregate);
  const alerts = Uint8Array.from(total, (v) => (v > det.threshold.value ? 1 : 0));
  return { timestamps: filled.timestamps, sensors: det.sensors, total, perSensor: s.perSensor, alerts, missing };
}

/** The sensors that drove step t, largest excess NLL first, with their parents in the DAG. */
export function topContributors(det: Detector, scores: TableScores, t: number, n = 3): Contribution[] {
  const K = det.sensors.length;
  const rows: Contribution[] = [];
  for (let k = 0; k < K; k++) {
    const nll = scores.perSensor[t * K + k];
    rows.push({ sensor: det.sensors[k], nll, excess: nll - det.calibrationMedians[k], parents: [] });
  }
  rows.sort((a, b) => b.excess - a.excess);
  return rows.slice(0, n).map((r) => ({ ...r, parents: parentsOf(det.graph, r.sensor) }));
}

export async function saveDetector(det: Detector, dir: string): Promise<void> {
  const { specs, blob } = det.model.store.serialise();
  const { createdAt, dataFingerprint, metrics, libraries, backend } = det.manifestExtras;
  await saveModel(dir, {
    manifest: {
      modelVersion: det.modelVersion, createdAt, sensors: det.sensors, features: det.features, config: det.config,
      dataFingerprint, libraries, backend, threshold: det.threshold,
      calibrationMedians: Array.from(det.calibrationMedians), metrics,
    },
    params: specs, weights: blob, graph: graphToJSON(det.graph), scaler: det.scaler, context: det.context,
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
    calibrationMedians: Float32Array.from(m.calibrationMedians),
    context: a.context,
    manifestExtras: { createdAt: m.createdAt, dataFingerprint: m.dataFingerprint, metrics: m.metrics, libraries: m.libraries, backend: m.backend },
  };
}

/** `level` is the risk q for both methods: the quantile method uses the (1 - q) quantile. */
export function fitThreshold(calibration: Float32Array, c: ThresholdConfig): ThresholdState {
  if (c.method === 'quantile') return quantileThreshold(calibration, 1 - c.level);
  // A short calibration set lowers the initial threshold so the tail fit still has 20 peaks.
  const initialQuantile = Math.min(c.initialQuantile, 1 - 20 / calibration.length);
  if (initialQuantile < 0.8) return quantileThreshold(calibration, 1 - Math.max(c.level, 1 / calibration.length));
  return spotThreshold(calibration, { q: c.level, initialQuantile });
}

function contextOf(s: Series, config: GanfConfig): Series {
  const n = Math.min(s.steps, Math.max(config.model.window, config.train.burnIn ?? config.model.window));
  const w = s.sensors * s.features;
  return { ...s, steps: n, data: s.data.subarray((s.steps - n) * w) };
}

function medians(perSensor: Float32Array, K: number): Float32Array {
  const T = perSensor.length / K;
  const out = new Float32Array(K);
  const col = new Float64Array(T);
  for (let k = 0; k < K; k++) {
    for (let t = 0; t < T; t++) col[t] = perSensor[t * K + k];
    col.sort();
    out[k] = T % 2 ? col[(T - 1) / 2] : 0.5 * (col[T / 2 - 1] + col[T / 2]);
  }
  return out;
}

/** Content-derived version: the same training run always gets the same id. */
function versionOf(det: Detector): string {
  const { blob } = det.model.store.serialise();
  return `${det.manifestExtras.createdAt.slice(0, 10).replaceAll('-', '')}-${fingerprint(det.sensors, new Float32Array(blob.buffer, blob.byteOffset, blob.byteLength / 4)).slice(7, 19)}`;
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}
