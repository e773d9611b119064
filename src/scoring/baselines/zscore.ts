// Per-sensor z-score baseline: the simplest detector that uses no graph and no density model, run
// beside GANF so any claimed gain is measured against something that costs nothing.
import { DataError, tableLength, type SeriesTable } from '../../data/table.ts';
import { rowsOf } from './columns.ts';
import type { BaselineScores } from './types.ts';

export interface ZScoreBaseline {
  kind: 'zscore-baseline';
  /** Sensors scored, in output order (sensors constant in training are left out). */
  sensors: string[];
  features: string[];
  /** Per kept sensor, per feature: training mean and std (0 for a constant feature, which is not scored). */
  mean: number[][];
  std: number[][];
  dropped: { sensor: string; reason: string }[];
}

/** std <= this times |mean| counts as constant, the same rule the scaler uses. */
const RELATIVE_STD_TOLERANCE = 1e-8;

function missingError(table: SeriesTable, t: number, k: number, what: string): DataError {
  return new DataError({
    field: table.sensors[k],
    reason: `missing value at row ${t} in ${what}; apply a missing-value policy (fillMissing) first`,
  });
}

export function fitZScoreBaseline(train: SeriesTable): ZScoreBaseline {
  const T = tableLength(train);
  const K = train.sensors.length;
  const D = train.features.length;
  if (T < 2) throw new DataError({ field: 'train', reason: `need at least 2 training rows, got ${T}` });
  const out: ZScoreBaseline = { kind: 'zscore-baseline', sensors: [], features: [...train.features], mean: [], std: [], dropped: [] };

  for (let k = 0; k < K; k++) {
    const means: number[] = [];
    const stds: number[] = [];
    for (let d = 0; d < D; d++) {
      let sum = 0;
      for (let t = 0; t < T; t++) {
        const v = train.values[(t * K + k) * D + d];
        if (Number.isNaN(v)) throw missingError(train, t, k, 'training data');
        sum += v;
      }
      const mean = sum / T;
      let ss = 0;
      for (let t = 0; t < T; t++) ss += (train.values[(t * K + k) * D + d] - mean) ** 2;
      means.push(mean);
      stds.push(Math.sqrt(ss / T));
    }
    const varying = stds.map((s, d) => s > RELATIVE_STD_TOLERANCE * Math.abs(means[d]) && s > 0);
    if (!varying.some(Boolean)) {
      // A constant sensor has no scale: any later change would be an infinite z and swamp every other sensor.
      out.dropped.push({ sensor: train.sensors[k], reason: 'constant in training' });
      continue;
    }
    out.sensors.push(train.sensors[k]);
    out.mean.push(means);
    // A constant feature beside varying ones is ignored when scoring (std stored as 0; JSON has no Infinity).
    out.std.push(stds.map((s, d) => (varying[d] ? s : 0)));
  }
  return out;
}

export function scoreZScore(table: SeriesTable, baseline: ZScoreBaseline): BaselineScores {
  const rows = rowsOf(table, baseline, 'the scored table');
  const T = rows.length;
  const D = baseline.features.length;
  const Kb = baseline.sensors.length;
  const scores = new Float64Array(T);
  // T*K' per-sensor |z| (max over a sensor's features), K' = baseline.sensors.length.
  const perSensor = new Float32Array(T * Kb);
  for (let t = 0; t < T; t++) {
    let worst = 0;
    for (let j = 0; j < Kb; j++) {
      let c = 0;
      for (let d = 0; d < D; d++) {
        const sd = baseline.std[j][d];
        if (sd > 0) c = Math.max(c, Math.abs(rows[t][j * D + d] - baseline.mean[j][d]) / sd);
      }
      perSensor[t * Kb + j] = c;
      worst = Math.max(worst, c);
    }
    scores[t] = worst;
  }
  return { scores, perSensor, sensors: [...baseline.sensors] };
}
