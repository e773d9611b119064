// PCA reconstruction error (the squared prediction error, SPE / Q statistic): what operators of
// correlated sensor networks typically already run. Standardised with the training mean/std, the
// principal subspace keeps 95 % of the training variance; a step scores by how far it falls off it.
import { PCA } from 'ml-pca';
import { DataError, type SeriesTable } from '../../data/table.ts';
import { columnsOf, rowsOf, type ColumnSet } from './columns.ts';
import type { BaselineScores } from './types.ts';

export interface PcaBaseline extends ColumnSet {
  kind: 'pca-baseline';
  /** Per column (sensor-major, then feature): training mean and std (1 where the column is constant, as scikit-learn's StandardScaler). */
  mean: number[];
  std: number[];
  /** Kept principal directions, each of length K*D, unit norm. */
  components: number[][];
  explainedVariance: number;
}

export function fitPca(train: SeriesTable, varianceToKeep = 0.95): PcaBaseline {
  const cols = columnsOf(train);
  const rows = rowsOf(train, cols, 'training data');
  if (rows.length < 2) throw new DataError({ field: 'train', reason: `need at least 2 training rows, got ${rows.length}` });
  const P = rows[0].length;
  const mean = new Array<number>(P).fill(0);
  const std = new Array<number>(P).fill(0);
  for (const r of rows) for (let p = 0; p < P; p++) mean[p] += r[p] / rows.length;
  for (const r of rows) for (let p = 0; p < P; p++) std[p] += (r[p] - mean[p]) ** 2 / rows.length;
  for (let p = 0; p < P; p++) {
    std[p] = Math.sqrt(std[p]);
    // A constant column keeps scale 1: a sensor that never moved in training and then moves is
    // off the principal subspace and should score, not be divided by zero or dropped.
    if (!(std[p] > 1e-12 * Math.max(1, Math.abs(mean[p])))) std[p] = 1;
  }
  const z = rows.map((r) => Array.from(r, (v, p) => (v - mean[p]) / std[p]));
  const pca = new PCA(z, { center: true, scale: false });
  const explained = pca.getExplainedVariance();
  let n = 0;
  let cum = 0;
  while (n < explained.length && cum < varianceToKeep) cum += explained[n++];
  const loadings = pca.getLoadings().to2DArray();
  return { kind: 'pca-baseline', ...cols, mean, std, components: loadings.slice(0, n), explainedVariance: cum };
}

/** Score = squared residual after projecting onto the kept components; per sensor = its columns' squared residual. */
export function scorePca(table: SeriesTable, model: PcaBaseline): BaselineScores {
  const rows = rowsOf(table, model, 'the scored table');
  const K = model.sensors.length;
  const D = model.features.length;
  const T = rows.length;
  const scores = new Float64Array(T);
  const perSensor = new Float32Array(T * K);
  const P = K * D;
  const z = new Float64Array(P);
  const residual = new Float64Array(P);
  for (let t = 0; t < T; t++) {
    for (let p = 0; p < P; p++) z[p] = (rows[t][p] - model.mean[p]) / model.std[p];
    residual.set(z);
    for (const c of model.components) {
      let proj = 0;
      for (let p = 0; p < P; p++) proj += c[p] * z[p];
      for (let p = 0; p < P; p++) residual[p] -= proj * c[p];
    }
    let total = 0;
    for (let k = 0; k < K; k++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += residual[k * D + d] ** 2;
      perSensor[t * K + k] = s;
      total += s;
    }
    scores[t] = total;
  }
  return { scores, perSensor, sensors: [...model.sensors] };
}
