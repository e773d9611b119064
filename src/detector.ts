// The detector as users see it (PyOD-style): fit on unlabelled history, score new data, flag steps
// above a label-free threshold, and explain each flagged step by its sensors and their parents.
import { tf, activeBackend } from './flow/tf.ts';
import { GanfModel } from './flow/ganf.ts';
import { seriesFrom, type Series } from './flow/chunks.ts';
import { train, shapeFor, type TrainResult } from './flow/train.ts';
import { scoreSeries } from './scoring/batch-score.ts';
import { calibrationMedians } from './scoring/calibration.ts';
import { fallbackWarning } from './scoring/threshold.ts';
import { aggregateSpec, calibrate, standardise } from './scoring/score-path.ts';
import type { ScoringModel } from './scoring/scoring-model.ts';
import { validationRows } from './scoring/split.ts';
import { fitScaler, applyScaler, keptSensors } from './data/preprocess.ts';
import { defaultMaxSteps } from './flow/budget.ts';
import { baselineBucketSteps } from './scoring/surprise-baseline.ts';
import { medianIntervalMs } from './data/timestamps.ts';
import { parentRidgeCounts } from './flow/linear-mean.ts';
import { fillMissing, type MissingReport } from './data/missing.ts';
import { sliceRows, tableLength, DataError, type SeriesTable } from './data/table.ts';
import { graphToJSON, graphFromJSON } from './dag-learning/extract.ts';
import { loadPrior } from './adapters/prior-file.ts';
import { saveModel, loadModel, fingerprint, libraryVersions } from './adapters/model-files.ts';
import { seededUniform } from './util/rng.ts';
import type { GanfConfig, ThresholdConfig } from './config.ts';

// Scoring lives in src/scoring (score-path.ts); the facade hands it on.
export { scoreTable, topContributors, aggregateSpec } from './scoring/score-path.ts';
export type { Contribution, TableScores } from './scoring/scoring-model.ts';

/** A fitted detector: what scoring needs (ScoringModel) plus what refitting and saving need. */
export interface Detector extends ScoringModel {
  /** The validation window NLLs [T*K] the calibration and threshold were fitted on (kept so both can be refitted without retraining). */
  calibrationScores: Float32Array;
  manifestExtras: { createdAt: string; dataFingerprint: string; metrics: Record<string, unknown>; libraries: Record<string, string>; backend: string };
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
  // The training budget and the baseline's bucket actually used are written into the model's config, so the manifest says them.
  if (config.train.maxSteps === undefined) config = { ...config, train: { ...config.train, maxSteps: defaultMaxSteps(T - nVal) } };
  if (config.model.baselineBucketSteps === undefined) {
    config = { ...config, model: { ...config.model, baselineBucketSteps: baselineBucketSteps(medianIntervalMs(filled.timestamps) ?? config.data.intervalMs) } };
  }
  const rand = seededUniform(config.train.seed ^ 0x5eed);
  const trainData = seriesFrom(applyScaler(sliceRows(filled, 0, T - nVal), scaler, { dequantise: 'random', rng: rand }), K, D);
  const val = standardise(sliceRows(filled, T - nVal, T), scaler, K);
  const valData = val.series;
  const prior = config.dag.prior ? await loadPrior(config.dag.prior, sensors) : undefined;

  const warmStarted = warmStart !== undefined && canWarmStart(warmStart, sensors, filled.features, config);
  const result = await train({
    train: trainData, validation: valData, sensors, model: config.model, train_: { ...config.train, maxSteps: config.train.maxSteps! }, dag: config.dag,
    priorMask: prior?.mask, priorInit: prior?.init,
  }, warmStarted ? warmStart.model : undefined);
  const parentRidges = result.linearMean && parentRidgeCounts(result.linearMean);
  if (parentRidges) log(`linear mean: ridge on the parents' coefficients chosen on the validation steps, sensors per ridge ${JSON.stringify(parentRidges)} ("drop": own history only)`);
  const adjacency = tf.tensor2d(result.dagWeights, [K, K]);
  const trainTail = contextOf(trainData, config);
  const cal = scoreSeries(result.model, valData, { encoder: config.model.encoder, window: config.model.window, scoreWindow: config.model.scoreWindow, adjacency, context: trainTail, penalty: val.penalty });
  const { calibration, threshold } = calibrate(cal.perSensor, K, config.model, config.threshold);
  const warning = fallbackWarning(threshold);
  if (warning) log(warning);
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
        parentRidges: parentRidges ?? {},
        trainSteps: trainData.steps,
        validationSteps: valData.steps,
      },
    },
  };
  detector.modelVersion = versionOf(detector);
  return { detector, report: { train: result, warmStarted, missing, trainSteps: trainData.steps, validationSteps: valData.steps } };
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
  const { calibration, threshold } = calibrate(det.calibrationScores, det.sensors.length, config.model, config.threshold);
  const warning = fallbackWarning(threshold);
  if (warning) log(warning);
  const out: Detector = { ...det, config, calibration, threshold, calibrationMedians: calibrationMedians(calibration) };
  out.modelVersion = versionOf(out);
  return out;
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
