// The baselines GANF is compared with, run under GANF's own protocol so a comparison measures the
// model and nothing else: fitted on the same training split (the training data minus its
// validation tail), thresholded label-free by the same fitThreshold on the scores of that
// validation tail, and averaged over the same trailing score window.
import { exceeds, fitThreshold, type ThresholdState } from '../threshold.ts';
import { validationRows } from '../split.ts';
import { fillMissing } from '../../data/missing.ts';
import { sliceRows, tableLength, DataError, type SeriesTable } from '../../data/table.ts';
import { trailingMean } from '../batch-score.ts';
import { fitPca, scorePca } from './pca.ts';
import { fitIsolationForest, scoreIsolationForest } from './isolation-forest.ts';
import { fitZScoreBaseline, scoreZScore } from './zscore.ts';
import type { BaselineScores } from './types.ts';
import type { GanfConfig } from '../../config.ts';

export type { BaselineScores } from './types.ts';

export const BASELINES = {
  pca: 'PCA',
  iforest: 'IsolationForest',
  zscore: 'z-score',
} as const;
export type BaselineName = keyof typeof BASELINES;

export type ProtocolConfig = Pick<GanfConfig, 'data' | 'model' | 'threshold' | 'train'>;

/** Fits one baseline; returns its scorer (higher = more anomalous). */
export function fitBaseline(name: BaselineName, train: SeriesTable, seed: number): (table: SeriesTable) => BaselineScores {
  if (name === 'pca') {
    const m = fitPca(train);
    return (t) => scorePca(t, m);
  }
  if (name === 'iforest') {
    const m = fitIsolationForest(train, { seed });
    return (t) => scoreIsolationForest(t, m);
  }
  const m = fitZScoreBaseline(train);
  return (t) => scoreZScore(t, m);
}

export interface BaselineRun {
  name: BaselineName;
  /** Smoothed per-step scores of the test table. */
  scores: Float32Array;
  /** Smoothed T*K per-sensor scores in `sensors` order (null for IsolationForest). */
  perSensor: Float32Array | null;
  sensors: string[];
  alerts: Uint8Array;
  /** fitThreshold's result on the validation tail's scores. */
  threshold: ThresholdState;
}

export function runBaseline(name: BaselineName, train: SeriesTable, test: SeriesTable, c: ProtocolConfig): BaselineRun {
  const tr = fillMissing(train, c.data.missing).table;
  const te = fillMissing(test, c.data.missing).table;
  const T = tableLength(tr);
  const nVal = validationRows(T, c);
  if (T - nVal < 2) throw new DataError({ field: 'train', reason: `${T} rows leave no fitting rows after a validation tail of ${nVal}` });
  const score = fitBaseline(name, sliceRows(tr, 0, T - nVal), c.train.seed);
  const w = c.model.scoreWindow;
  const smooth = (v: Float64Array) => trailingMean(Float32Array.from(v), 1, w);
  const threshold = fitThreshold(smooth(score(sliceRows(tr, T - nVal, T)).scores), c.threshold);
  const s = score(te);
  const scores = smooth(s.scores);
  return {
    name, scores, sensors: s.sensors, threshold,
    perSensor: s.perSensor ? trailingMean(s.perSensor, s.sensors.length, w) : null,
    alerts: Uint8Array.from(scores, (v) => (exceeds(v, threshold.value) ? 1 : 0)),
  };
}
