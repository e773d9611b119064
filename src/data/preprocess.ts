// Standardisation fitted on training data only (fitting on the scored period would leak the
// anomalies into the scale). Discrete sensors (pump on/off, valve states) are dequantised with
// uniform noise because a normalizing flow fitted to point masses drives its density to infinity.
// Continuous sensors are dequantised too, by their grid or by a noise floor, whichever is wider
// (see NOISE_FLOOR).
import { z } from 'zod';
import { DataError, tableLength, type SeriesTable } from './table.ts';
import { DEFAULT_PLAUSIBLE_MARGIN } from './options.ts';
import { longestRepeat, REPEAT_GRIDS } from './repeats.ts';

export const ScalerOptionsSchema = z.strictObject({
  /** A sensor with at most this many distinct training values is treated as discrete. */
  maxDiscreteLevels: z.number().int().min(1).default(5),
  /** std <= relativeStdTolerance * |mean| counts as constant (float noise around a fixed reading). */
  relativeStdTolerance: z.number().nonnegative().default(1e-8),
  /** Plausible range = training range widened by this fraction of itself on each side. */
  plausibleMargin: z.number().min(0).default(DEFAULT_PLAUSIBLE_MARGIN),
});
export type ScalerOptions = z.input<typeof ScalerOptionsSchema>;

const FeatureScaleSchema = z.strictObject({
  /** Mean and std used for standardising, i.e. of the dequantised values. */
  mean: z.number(),
  std: z.number().positive(),
  discrete: z.strictObject({ levels: z.array(z.number()), gap: z.number().positive() }).optional(),
  /**
   * A continuous feature's dequantisation width: NOISE_FLOOR of its std, or the resolution of
   * the grid its training readings lie on (the median gap between consecutive distinct values,
   * when they repeat) if that is wider. Dequantised like a discrete feature's gap. Models saved
   * before the floor have it only on gridded features (and 1 % of the std on float features with
   * a point mass); they score with what they were trained with.
   */
  resolution: z.number().positive().optional(),
  /** Constant in training but kept because another feature of the sensor varies: centred only. */
  constant: z.literal(true).optional(),
  /** Plausible range in standardised units; values beyond are clipped to it before the model. */
  lo: z.number(),
  hi: z.number(),
});

export const ScalerStateSchema = z.strictObject({
  kind: z.literal('ganf-scaler'),
  version: z.literal(1),
  /** Every sensor the scaler saw at fit time, kept or dropped. */
  sensors: z.array(z.string()),
  features: z.array(z.string()).min(1),
  kept: z.array(z.strictObject({
    sensor: z.string(),
    features: z.array(FeatureScaleSchema),
    /**
     * Longest run of training rows with the sensor's reading repeated exactly (1 = never repeated;
     * src/data/repeats.ts): a longer one at scoring time is a stuck sensor. Absent in scalers fitted
     * before it: those models do not score stuck readings.
     */
    longestRepeat: z.number().int().positive().optional(),
    /** The same with the training readings rounded to each of REPEAT_GRIDS (src/data/repeats.ts); absent where longestRepeat is. */
    longestRepeatOnGrids: z.array(z.number().int().positive()).length(REPEAT_GRIDS.length).optional(),
  })),
  dropped: z.array(z.strictObject({
    sensor: z.string(),
    reason: z.string(),
    /** The training value per feature of a sensor dropped as constant: any other value is unseen. */
    constant: z.array(z.number()).optional(),
  })),
  warnings: z.array(z.string()),
  nTrain: z.number().int().positive(),
  options: z.strictObject({ maxDiscreteLevels: z.number().int(), relativeStdTolerance: z.number(), plausibleMargin: z.number() }),
});

export type FeatureScale = z.infer<typeof FeatureScaleSchema>;
export type ScalerState = z.infer<typeof ScalerStateSchema>;

export type DequantiseMode =
  /** Training: x + U(0, gap) with a seeded rng so runs are reproducible. */
  | { dequantise: 'random'; rng: () => number }
  /** Scoring: x + gap/2, so the same input always gets the same score. */
  | { dequantise: 'midpoint' };

/** Validates a state loaded from JSON. */
export function parseScalerState(json: unknown): ScalerState {
  const parsed = ScalerStateSchema.safeParse(json);
  if (!parsed.success) throw new DataError({ field: 'scaler state', reason: z.prettifyError(parsed.error) });
  return parsed.data;
}

function assertNoMissing(table: SeriesTable, k: number, d: number, what: string): void {
  const K = table.sensors.length;
  const D = table.features.length;
  const T = tableLength(table);
  for (let t = 0; t < T; t++) {
    if (Number.isNaN(table.values[(t * K + k) * D + d])) {
      throw new DataError({
        field: table.sensors[k],
        reason: `missing value at row ${t} in ${what}; apply a missing-value policy (fillMissing) first`,
      });
    }
  }
}

interface ColumnSummary {
  mean: number;
  variance: number;
  min: number;
  max: number;
  /** Sorted distinct values, only when there are at most maxLevels of them. */
  levels: number[] | undefined;
}

function summarise(table: SeriesTable, k: number, d: number, maxLevels: number): ColumnSummary {
  const K = table.sensors.length;
  const D = table.features.length;
  const T = tableLength(table);
  let sum = 0;
  let min = Infinity;
  let max = -Infinity;
  const distinct = new Set<number>();
  for (let t = 0; t < T; t++) {
    const v = table.values[(t * K + k) * D + d];
    sum += v;
    if (v < min) min = v;
    if (v > max) max = v;
    if (distinct.size <= maxLevels) distinct.add(v);
  }
  const mean = sum / T;
  let ss = 0;
  for (let t = 0; t < T; t++) {
    const e = table.values[(t * K + k) * D + d] - mean;
    ss += e * e;
  }
  return {
    mean,
    variance: ss / T,
    min,
    max,
    levels: distinct.size <= maxLevels ? [...distinct].sort((a, b) => a - b) : undefined,
  };
}

/**
 * The grid a column's readings lie on: the median gap between its consecutive distinct values,
 * when they repeat (at most half as many distinct values as rows); 0 for float readings, whose
 * gaps only measure how many rows there are. Readings on a coarse grid (PMU voltages stored to
 * 1e-6) repeat exactly from step to step, and a flow fitted to the point mass of their increments
 * drives its density to infinity.
 */
function gridResolution(table: SeriesTable, k: number, d: number): number {
  const K = table.sensors.length;
  const D = table.features.length;
  const T = tableLength(table);
  const v = new Float64Array(T);
  for (let t = 0; t < T; t++) v[t] = table.values[(t * K + k) * D + d];
  v.sort();
  const gaps: number[] = [];
  for (let t = 1; t < T; t++) if (v[t] > v[t - 1]) gaps.push(v[t] - v[t - 1]);
  if (gaps.length === 0 || gaps.length + 1 > T / 2) return 0;
  gaps.sort((a, b) => a - b);
  return gaps[gaps.length >> 1];
}

/**
 * The narrowest dequantisation of a continuous feature, as a share of its std: in training every
 * reading is treated as if measured with at least U(0, 0.1 std) of noise (std 0.029 of the
 * sensor's). Why: over a short training window neighbouring sensors can follow each other to
 * 0.005 of their std (GridSTAGE's buses over 20 s), and a model that believes that relation to the
 * last digit scores a mismatch of 0.1 std (a new operating point, a slightly nonlinear relation)
 * as the worst anomaly there is, above an attack that moves readings by whole stds. The floor
 * bounds how far any relation is trusted, the way PCA's discarded 5 % of variance does; a reading
 * with a point mass (a pump's flow at exactly 0 while off) gets a real density instead of a spike
 * the flow would fit.
 */
const NOISE_FLOOR = 0.1;

/** The width of the uniform dequantisation of a feature: its discrete gap or resolution, else 0. */
function gapOf(f: FeatureScale): number {
  return f.discrete?.gap ?? f.resolution ?? 0;
}

export function fitScaler(train: SeriesTable, options: ScalerOptions = {}): ScalerState {
  const parsedOpts = ScalerOptionsSchema.safeParse(options);
  if (!parsedOpts.success) throw new DataError({ field: 'scaler options', reason: z.prettifyError(parsedOpts.error) });
  const opts = parsedOpts.data;
  const T = tableLength(train);
  if (T < 2) throw new DataError({ field: 'train', reason: `need at least 2 training rows, got ${T}` });

  const kept: ScalerState['kept'] = [];
  const dropped: ScalerState['dropped'] = [];
  const warnings: string[] = [];

  train.sensors.forEach((sensor, k) => {
    const features: FeatureScale[] = [];
    const constantReasons: string[] = [];
    const means: number[] = [];
    train.features.forEach((feature, d) => {
      assertNoMissing(train, k, d, 'training data');
      const s = summarise(train, k, d, Math.max(opts.maxDiscreteLevels, 1));
      means.push(s.mean);
      const std = Math.sqrt(s.variance);
      const margin = opts.plausibleMargin * (s.max - s.min);
      const range = (mean: number, sd: number, top = s.max) => ({ lo: (s.min - margin - mean) / sd, hi: (top + margin - mean) / sd });
      const name = train.features.length > 1 ? `${sensor}/${feature}` : sensor;
      if (s.levels?.length === 1 || std <= opts.relativeStdTolerance * Math.abs(s.mean)) {
        constantReasons.push(
          s.levels?.length === 1
            ? `${name} is constant (${s.levels[0]}) in training`
            : `${name} is near-constant in training (std ${std.toPrecision(3)}, mean ${s.mean.toPrecision(6)})`,
        );
        features.push({ mean: s.mean, std: 1, constant: true, lo: 0, hi: 0 });
      } else if (s.levels && s.levels.length <= opts.maxDiscreteLevels) {
        let gap = Infinity;
        for (let i = 1; i < s.levels.length; i++) gap = Math.min(gap, s.levels[i] - s.levels[i - 1]);
        // Moments of x + U(0, gap) with U independent of x.
        const mean = s.mean + gap / 2;
        const sd = Math.sqrt(s.variance + (gap * gap) / 12);
        features.push({ mean, std: sd, discrete: { levels: s.levels, gap }, ...range(mean, sd, s.max + gap) });
      } else {
        const q = Math.max(gridResolution(train, k, d), NOISE_FLOOR * std);
        const mean = s.mean + q / 2;
        const sd = Math.sqrt(s.variance + (q * q) / 12);
        features.push({ mean, std: sd, resolution: q, ...range(mean, sd, s.max + q) });
      }
    });
    if (constantReasons.length === train.features.length) {
      dropped.push({ sensor, reason: constantReasons.join('; '), constant: means });
    } else {
      // A sensor's features must stay aligned with the others', so a constant feature is centred, not removed.
      for (const r of constantReasons) warnings.push(`${r}: kept (other features vary), centred only`);
      const [K, D] = [train.sensors.length, train.features.length];
      kept.push({
        sensor, features, longestRepeat: longestRepeat(train.values, T, K, D, k),
        longestRepeatOnGrids: REPEAT_GRIDS.map((g) => longestRepeat(train.values, T, K, D, k, g)),
      });
    }
  });

  for (const d of dropped) warnings.unshift(`dropped sensor ${d.sensor}: ${d.reason}`);
  if (kept.length === 0) throw new DataError({ field: 'train', reason: 'every sensor is constant in training' });

  return {
    kind: 'ganf-scaler',
    version: 1,
    sensors: [...train.sensors],
    features: [...train.features],
    kept,
    dropped,
    warnings,
    nTrain: T,
    options: opts,
  };
}

/** Names of the sensors the scaler outputs, in output order. */
export function keptSensors(state: ScalerState): string[] {
  return state.kept.map((s) => s.sensor);
}

/**
 * Throws when the table cannot be scored by a model fitted with `state`: a kept sensor is missing,
 * a sensor unknown at fit time appears, or the features differ. Sensors dropped at fit time may
 * be present or absent.
 */
export function checkSensors(table: SeriesTable, state: ScalerState): void {
  const have = new Set(table.sensors);
  const known = new Set(state.sensors);
  const missing = keptSensors(state).filter((s) => !have.has(s));
  const unexpected = table.sensors.filter((s) => !known.has(s));
  if (missing.length > 0 || unexpected.length > 0) {
    const parts = [
      missing.length ? `missing ${missing.length} sensor(s) the model was fitted on: ${missing.join(', ')}` : '',
      unexpected.length ? `${unexpected.length} sensor(s) unknown to the model: ${unexpected.join(', ')}` : '',
    ].filter(Boolean);
    throw new DataError({ field: 'sensors', reason: `sensor set differs from the model's: ${parts.join('; ')}` });
  }
  const sameFeatures =
    table.features.length === state.features.length && table.features.every((f, i) => f === state.features[i]);
  if (!sameFeatures) {
    throw new DataError({
      field: 'features',
      reason: `features [${table.features.join(', ')}] differ from the model's [${state.features.join(', ')}]`,
    });
  }
}

/** Standardised values over the kept sensors (in `keptSensors(state)` order), T*K'*D. */
export function applyScaler(table: SeriesTable, state: ScalerState, mode: DequantiseMode): Float32Array {
  checkSensors(table, state);
  if (mode.dequantise === 'random' && typeof mode.rng !== 'function') {
    throw new DataError({ field: 'rng', reason: "dequantise: 'random' needs a seeded rng" });
  }
  const T = tableLength(table);
  const K = table.sensors.length;
  const D = table.features.length;
  const Kout = state.kept.length;
  const position = new Map(table.sensors.map((s, i) => [s, i] as const));
  const out = new Float32Array(T * Kout * D);

  state.kept.forEach(({ sensor, features }, j) => {
    const k = position.get(sensor)!;
    features.forEach((f, d) => {
      assertNoMissing(table, k, d, 'the table to scale');
      const gap = gapOf(f);
      for (let t = 0; t < T; t++) {
        const x = table.values[(t * K + k) * D + d];
        out[(t * Kout + j) * D + d] = standardiseValue(x, gap > 0 ? (mode.dequantise === 'random' ? gap * mode.rng() : gap / 2) : 0, f);
      }
    });
  });
  return out;
}

/**
 * How far each kept sensor's readings lie outside their plausible range, in standardised units
 * summed over features, [T*K'] ('midpoint' dequantisation, as scoring uses). Scoring adds it to
 * the sensor's NLL (a Laplace tail of unit scale beyond the range), so a clipped reading still
 * scores higher the farther out it is, while the model itself only ever sees the clipped value.
 */
export function rangeExcess(table: SeriesTable, state: ScalerState): Float32Array {
  checkSensors(table, state);
  const T = tableLength(table);
  const K = table.sensors.length;
  const D = table.features.length;
  const Kout = state.kept.length;
  const position = new Map(table.sensors.map((s, i) => [s, i] as const));
  const out = new Float32Array(T * Kout);
  state.kept.forEach(({ sensor, features }, j) => {
    const k = position.get(sensor)!;
    features.forEach((f, d) => {
      for (let t = 0; t < T; t++) out[t * Kout + j] += beyond(table.values[(t * K + k) * D + d], f);
    });
  });
  return out;
}

function beyond(x: number, f: FeatureScale): number {
  const z = (x + gapOf(f) / 2 - f.mean) / f.std;
  const d = z < f.lo ? f.lo - z : z > f.hi ? z - f.hi : 0;
  // float32 keeps it finite for any finite reading.
  return Math.min(d, 1e30);
}

/**
 * One raw row of the kept sensors (in `keptSensors(state)` order, K'*D) standardised for scoring,
 * exactly as applyScaler's 'midpoint' mode does for a table: the streaming path's per-step form.
 * With `excess` (K' values), also what rangeExcess gives for this row.
 */
export function standardiseRow(raw: ArrayLike<number>, state: ScalerState, excess?: Float32Array): Float32Array {
  const D = state.features.length;
  if (raw.length !== state.kept.length * D) {
    throw new DataError({ field: 'row', reason: `expected ${state.kept.length * D} values (kept sensors x features), got ${raw.length}` });
  }
  const out = new Float32Array(raw.length);
  state.kept.forEach(({ sensor, features }, j) => {
    features.forEach((f, d) => {
      const x = raw[j * D + d];
      if (!Number.isFinite(x)) throw new DataError({ field: sensor, reason: `value ${x} is not a finite number` });
      out[j * D + d] = standardiseValue(x, gapOf(f) / 2, f);
      if (excess) excess[j] = (d === 0 ? 0 : excess[j]) + beyond(x, f);
    });
  });
  return out;
}

/**
 * A standardised value back in the sensor's raw units: the inverse of standardiseRow's map before
 * clipping (the midpoint shift of a discrete feature is undone too).
 */
export function unstandardise(z: number, f: FeatureScale): number {
  return z * f.std + f.mean - gapOf(f) / 2;
}

/** One reading standardised: dequantised by `shift`, clipped to the plausible range. */
function standardiseValue(x: number, shift: number, f: FeatureScale): number {
  return clip((x + shift - f.mean) / f.std, f);
}

/** A standardised value limited to the feature's plausible range. */
function clip(z: number, f: FeatureScale): number {
  return z < f.lo ? f.lo : z > f.hi ? f.hi : z;
}

/**
 * Per step, the sensors dropped as constant in training whose reading differs from that
 * constant: a value never seen in training (a command channel switching on, a stuck valve
 * moving). Sensors absent from the table are not checked. Returns [step, sensor] pairs.
 */
export function unseenConstantValues(table: SeriesTable, state: ScalerState): { t: number; sensor: string }[] {
  const T = tableLength(table);
  const K = table.sensors.length;
  const D = table.features.length;
  const position = new Map(table.sensors.map((s, i) => [s, i] as const));
  const out: { t: number; sensor: string }[] = [];
  for (const d of state.dropped) {
    const k = position.get(d.sensor);
    if (k === undefined || !d.constant) continue;
    for (let t = 0; t < T; t++) {
      for (let f = 0; f < D; f++) {
        const v = table.values[(t * K + k) * D + f];
        const c = d.constant[f];
        if (!Number.isNaN(v) && Math.abs(v - c) > Math.max(state.options.relativeStdTolerance * Math.abs(c), 1e-12)) {
          out.push({ t, sensor: d.sensor });
          break;
        }
      }
    }
  }
  return out.sort((a, b) => a.t - b.t);
}
