// The in-memory multivariate series every stage passes around. Values are one flat Float32Array
// (row-major over time, then sensor, then feature) so windows and tensors can be cut from it
// without per-cell objects; NaN is the only representation of a missing value.

export interface SeriesTable {
  /** Epoch milliseconds, strictly increasing. */
  timestamps: Float64Array;
  sensors: string[];
  /** D >= 1 feature names shared by every sensor; ['value'] when there is one feature per sensor. */
  features: string[];
  /** T*K*D, index (t*K + k)*D + d; NaN = missing. */
  values: Float32Array;
  /** Optional ground truth, one 0/1 per row. */
  labels?: Uint8Array;
}

export interface DataErrorDetails {
  /** Column, sensor or option the problem is about. */
  field?: string;
  /** 1-based line in the source file, when the data came from a file. */
  line?: number;
  reason: string;
  source?: string;
}

/** Bad input data (as opposed to a bug): the message names where and why so it can be fixed upstream. */
export class DataError extends Error {
  readonly field?: string;
  readonly line?: number;
  readonly reason: string;
  readonly source?: string;

  constructor(details: DataErrorDetails) {
    const where = [
      details.source,
      details.line !== undefined ? `line ${details.line}` : undefined,
      details.field !== undefined ? `"${details.field}"` : undefined,
    ].filter((s) => s !== undefined);
    super(where.length > 0 ? `${where.join(', ')}: ${details.reason}` : details.reason);
    this.name = 'DataError';
    this.field = details.field;
    this.line = details.line;
    this.reason = details.reason;
    this.source = details.source;
  }
}

export function tableLength(table: SeriesTable): number {
  return table.timestamps.length;
}

/** Index of value (t, k, d) in `table.values`. */
export function valueIndex(table: SeriesTable, t: number, k: number, d = 0): number {
  return (t * table.sensors.length + k) * table.features.length + d;
}

/** Throws a DataError when the arrays disagree with the declared shape. */
export function assertTableShape(table: SeriesTable): void {
  const T = table.timestamps.length;
  const K = table.sensors.length;
  const D = table.features.length;
  if (D < 1) throw new DataError({ field: 'features', reason: 'a table needs at least one feature' });
  if (table.values.length !== T * K * D) {
    throw new DataError({
      field: 'values',
      reason: `length ${table.values.length} does not match T*K*D = ${T}*${K}*${D}`,
    });
  }
  if (table.labels && table.labels.length !== T) {
    throw new DataError({ field: 'labels', reason: `length ${table.labels.length} does not match T = ${T}` });
  }
}

/** Rows [start, end) as an independent copy, so later in-place edits cannot alias the source. */
export function sliceRows(table: SeriesTable, start: number, end: number = tableLength(table)): SeriesTable {
  const T = tableLength(table);
  const s = Math.max(0, Math.min(T, start < 0 ? T + start : start));
  const e = Math.max(s, Math.min(T, end < 0 ? T + end : end));
  const width = table.sensors.length * table.features.length;
  return {
    timestamps: table.timestamps.slice(s, e),
    sensors: [...table.sensors],
    features: [...table.features],
    values: table.values.slice(s * width, e * width),
    ...(table.labels ? { labels: table.labels.slice(s, e) } : {}),
  };
}

/** The named sensors, in the order given; an unknown name is an error rather than a silent gap. */
export function selectSensors(table: SeriesTable, names: readonly string[]): SeriesTable {
  const position = new Map(table.sensors.map((s, i) => [s, i] as const));
  const unknown = names.filter((n) => !position.has(n));
  if (unknown.length > 0) {
    throw new DataError({ field: 'sensors', reason: `unknown sensor(s): ${unknown.join(', ')}` });
  }
  if (new Set(names).size !== names.length) {
    throw new DataError({ field: 'sensors', reason: 'sensor selection contains duplicates' });
  }
  const T = tableLength(table);
  const K = table.sensors.length;
  const D = table.features.length;
  const picked = names.map((n) => position.get(n)!);
  const out = new Float32Array(T * picked.length * D);
  for (let t = 0; t < T; t++) {
    for (let j = 0; j < picked.length; j++) {
      const from = (t * K + picked[j]) * D;
      out.set(table.values.subarray(from, from + D), (t * picked.length + j) * D);
    }
  }
  return {
    timestamps: table.timestamps.slice(),
    sensors: [...names],
    features: [...table.features],
    values: out,
    ...(table.labels ? { labels: table.labels.slice() } : {}),
  };
}

/** Keeps the rows where `keep[t]` is true (used when a missing-value policy drops rows). */
export function filterRows(table: SeriesTable, keep: ArrayLike<boolean>): SeriesTable {
  const T = tableLength(table);
  const width = table.sensors.length * table.features.length;
  let n = 0;
  for (let t = 0; t < T; t++) if (keep[t]) n++;
  const timestamps = new Float64Array(n);
  const values = new Float32Array(n * width);
  const labels = table.labels ? new Uint8Array(n) : undefined;
  let j = 0;
  for (let t = 0; t < T; t++) {
    if (!keep[t]) continue;
    timestamps[j] = table.timestamps[t];
    values.set(table.values.subarray(t * width, (t + 1) * width), j * width);
    if (labels) labels[j] = table.labels![t];
    j++;
  }
  return {
    timestamps,
    sensors: [...table.sensors],
    features: [...table.features],
    values,
    ...(labels ? { labels } : {}),
  };
}
