// The plain numeric view the matrix baselines (PCA, IsolationForest) work on: one row of K*D
// numbers per step, in the sensor order they were fitted on.
import { DataError, tableLength, type SeriesTable } from '../../data/table.ts';

export interface ColumnSet {
  sensors: string[];
  features: string[];
}

export function columnsOf(table: SeriesTable): ColumnSet {
  return { sensors: [...table.sensors], features: [...table.features] };
}

/**
 * T rows of K*D values in `cols` order. Errors name missing sensors, differing features or a
 * missing cell: a baseline silently scoring a NaN would rank it anywhere.
 */
export function rowsOf(table: SeriesTable, cols: ColumnSet, what: string): Float64Array[] {
  const position = new Map(table.sensors.map((s, i) => [s, i] as const));
  const missing = cols.sensors.filter((s) => !position.has(s));
  if (missing.length > 0) throw new DataError({ field: 'sensors', reason: `missing sensor(s) the baseline was fitted on: ${missing.join(', ')}` });
  const sameFeatures = table.features.length === cols.features.length && table.features.every((f, i) => f === cols.features[i]);
  if (!sameFeatures) {
    throw new DataError({ field: 'features', reason: `features [${table.features.join(', ')}] differ from the baseline's [${cols.features.join(', ')}]` });
  }
  const T = tableLength(table);
  const K = table.sensors.length;
  const D = table.features.length;
  const at = cols.sensors.map((s) => position.get(s)!);
  const rows: Float64Array[] = [];
  for (let t = 0; t < T; t++) {
    const row = new Float64Array(at.length * D);
    at.forEach((k, j) => {
      for (let d = 0; d < D; d++) {
        const v = table.values[(t * K + k) * D + d];
        if (Number.isNaN(v)) {
          throw new DataError({ field: table.sensors[k], reason: `missing value at row ${t} in ${what}; apply a missing-value policy (fillMissing) first` });
        }
        row[j * D + d] = v;
      }
    });
    rows.push(row);
  }
  return rows;
}
