// fitDetector with a warm start. src/detector.ts's fitDetector has no warm-start parameter, but
// train() (src/flow/train.ts) accepts a model whose parameters (LSTM, graph convolution, flow, and
// the DAG weights as the starting graph) initialise the new one. This mirrors fitDetector step for
// step (missing values, scaler on the new data, validation split, calibration, threshold, context,
// content-derived version) and passes the active model to train(). If fitDetector ever gains a
// warmStart option, this file should become a call to it.
import { tf, activeBackend } from '../../flow/tf.ts';
import { seriesFrom, type Series } from '../../flow/chunks.ts';
import { train } from '../../flow/train.ts';
import type { GanfModel } from '../../flow/ganf.ts';
import { scoreSeries } from '../../scoring/batch-score.ts';
import { aggregateScores } from '../../scoring/aggregate.ts';
import { fitScaler, applyScaler, keptSensors } from '../../ingest/preprocess.ts';
import { fillMissing } from '../../ingest/missing.ts';
import { sliceRows, tableLength, DataError, type SeriesTable } from '../../ingest/table.ts';
import { loadPrior } from '../../dag-learning/prior.ts';
import { fingerprint, libraryVersions } from '../../model-files.ts';
import { seededUniform } from '../../util/rng.ts';
import { fitDetector, fitThreshold, type Detector } from '../../detector.ts';
import type { GanfConfig } from '../../config.ts';

/** Whether `from` can initialise a model for `sensors` x `features` with `config`'s shape. */
export function canWarmStart(from: Detector, sensors: string[], features: string[], config: GanfConfig): boolean {
  const a = from.config.model;
  const b = config.model;
  return from.sensors.length === sensors.length && from.sensors.every((s, i) => s === sensors[i]) &&
    from.features.length === features.length &&
    a.hidden === b.hidden && a.condition === b.condition && a.flowHidden === b.flowHidden && a.flowBlocks === b.flowBlocks && a.transform === b.transform;
}

export async function fitDetectorWarm(table: SeriesTable, config: GanfConfig, from: Detector | null): Promise<{ detector: Detector; warmStarted: boolean }> {
  const { table: filled } = fillMissing(table, config.data.missing);
  const scaler = fitScaler(filled);
  const sensors = keptSensors(scaler);
  if (!from || !canWarmStart(from, sensors, filled.features, config)) {
    const { detector } = await fitDetector(table, config);
    return { detector, warmStarted: false };
  }
  const D = filled.features.length;
  const K = sensors.length;
  const T = tableLength(filled);
  const nVal = Math.max(config.model.window * 2, Math.round(T * config.train.validationFraction));
  if (T - nVal < config.model.window * 3) {
    throw new DataError({ field: 'train', reason: `${T} rows are too few for window ${config.model.window} with a validation split of ${nVal} rows` });
  }
  const rand = seededUniform(config.train.seed ^ 0x5eed);
  const trainData = seriesFrom(applyScaler(sliceRows(filled, 0, T - nVal), scaler, { dequantise: 'random', rng: rand }), K, D);
  const valData = seriesFrom(applyScaler(sliceRows(filled, T - nVal, T), scaler, { dequantise: 'midpoint' }), K, D);
  const prior = config.dag.prior ? await loadPrior(config.dag.prior, sensors) : undefined;
  const result = await train({
    train: trainData, validation: valData, sensors, model: config.model, train_: config.train, dag: config.dag,
    priorMask: prior?.mask, priorInit: prior?.init,
  }, from.model as GanfModel);
  const adjacency = tf.tensor2d(result.dagWeights, [K, K]);
  const cal = scoreSeries(result.model, valData, { encoder: config.model.encoder, window: config.model.window, scoreWindow: config.model.scoreWindow, adjacency, context: contextOf(trainData, config) });
  const calibrationMedians = medians(cal.perSensor, K);
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
    threshold: fitThreshold(aggregateScores(cal.perSensor, K, calibrationMedians, config.model.scoreAggregate), config.threshold),
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
        warmStartedFrom: from.modelVersion,
      },
    },
  };
  const { blob } = detector.model.store.serialise();
  detector.modelVersion = `${detector.manifestExtras.createdAt.slice(0, 10).replaceAll('-', '')}-${fingerprint(sensors, new Float32Array(blob.buffer, blob.byteOffset, blob.byteLength / 4)).slice(7, 19)}`;
  return { detector, warmStarted: true };
}

// The three helpers below are private in src/detector.ts; same definitions.
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

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}
