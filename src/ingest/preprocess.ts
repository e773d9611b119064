// Standardisation fitted on training data only (fitting on the scored period would leak the
// anomalies into the scale). Discrete sensors (pump on/off, valve states) are dequantised with
// uniform noise because a normalizing flow fitted to point masses drives its density to infinity.
import { z } from 'zod';
import { DataError, tableLength, type SeriesTable } from './table.ts';

export const ScalerOptionsSchema = z.strictObject({
  /** A sensor with at most this many distinct training values is treated as discrete. */
  maxDiscreteLevels: z.number().int().min(1).default(5),
  /** std <= relativeStdTolerance * |mean| counts as constant (float noise around a fixed reading). */
  relativeStdTolerance: z.number().nonnegative().default(1e-8),
});
export type ScalerOptions = z.input<typeof ScalerOptionsSchema>;

const FeatureScaleSchema = z.strictObject({
  /** Mean and std used for standardising, i.e. of the dequantised values for discrete features. */
  mean: z.number(),
  std: z.number().positive(),
  discrete: z.strictObject({ levels: z.array(z.number()), gap: z.number().positive() }).optional(),
  /** Constant in training but kept because another feature of the sensor varies: centred only. */
  constant: z.literal(true).optional(),
});

export const ScalerStateSchema = z.strictObject({
  kind: z.literal('ganf-scaler'),
  version: z.literal(1),
  /** Every sensor the scaler saw at fit time, kept or dropped. */
  sensors: z.array(z.string()),
  features: z.array(z.string()).min(1),
  kept: z.array(z.strictObject({ sensor: z.string(), features: z.array(FeatureScaleSchema) })),
  dropped: z.array(z.strictObject({ sensor: z.string(), reason: z.string() })),
  warnings: z.array(z.string()),
  nTrain: z.number().int().positive(),
  options: z.strictObject({ maxDiscreteLevels: z.number().int(), relativeStdTolerance: z.number() }),
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
  /** Sorted distinct values, only when there are at most maxLevels of them. */
  levels: number[] | undefined;
}

function summarise(table: SeriesTable, k: number, d: number, maxLevels: number): ColumnSummary {
  const K = table.sensors.length;
  const D = table.features.length;
  const T = tableLength(table);
  let sum = 0;
  const distinct = new Set<number>();
  for (let t = 0; t < T; t++) {
    const v = table.values[(t * K + k) * D + d];
    sum += v;
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
    levels: distinct.size <= maxLevels ? [...distinct].sort((a, b) => a - b) : undefined,
  };
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
    train.features.forEach((feature, d) => {
      assertNoMissing(train, k, d, 'training data');
      const s = summarise(train, k, d, Math.max(opts.maxDiscreteLevels, 1));
      const std = Math.sqrt(s.variance);
      const name = train.features.length > 1 ? `${sensor}/${feature}` : sensor;
      if (s.levels?.length === 1 || std <= opts.relativeStdTolerance * Math.abs(s.mean)) {
        constantReasons.push(
          s.levels?.length === 1
            ? `${name} is constant (${s.levels[0]}) in training`
            : `${name} is near-constant in training (std ${std.toPrecision(3)}, mean ${s.mean.toPrecision(6)})`,
        );
        features.push({ mean: s.mean, std: 1, constant: true });
      } else if (s.levels && s.levels.length <= opts.maxDiscreteLevels) {
        let gap = Infinity;
        for (let i = 1; i < s.levels.length; i++) gap = Math.min(gap, s.levels[i] - s.levels[i - 1]);
        // Moments of x + U(0, gap) with U independent of x.
        features.push({
          mean: s.mean + gap / 2,
          std: Math.sqrt(s.variance + (gap * gap) / 12),
          discrete: { levels: s.levels, gap },
        });
      } else {
        features.push({ mean: s.mean, std });
      }
    });
    if (constantReasons.length === train.features.length) {
      dropped.push({ sensor, reason: constantReasons.join('; ') });
    } else {
      // A sensor's features must stay aligned with the others', so a constant feature is centred, not removed.
      for (const r of constantReasons) warnings.push(`${r}: kept (other features vary), centred only`);
      kept.push({ sensor, features });
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
      const gap = f.discrete?.gap ?? 0;
      for (let t = 0; t < T; t++) {
        let x = table.values[(t * K + k) * D + d];
        if (gap > 0) x += mode.dequantise === 'random' ? gap * mode.rng() : gap / 2;
        out[(t * Kout + j) * D + d] = (x - f.mean) / f.std;
      }
    });
  });
  return out;
}

/**
 * One raw row of the kept sensors (in `keptSensors(state)` order, K'*D) standardised for scoring,
 * exactly as applyScaler's 'midpoint' mode does for a table: the streaming path's per-step form.
 */
export function standardiseRow(raw: ArrayLike<number>, state: ScalerState): Float32Array {
  const D = state.features.length;
  if (raw.length !== state.kept.length * D) {
    throw new DataError({ field: 'row', reason: `expected ${state.kept.length * D} values (kept sensors x features), got ${raw.length}` });
  }
  const out = new Float32Array(raw.length);
  state.kept.forEach(({ sensor, features }, j) => {
    features.forEach((f, d) => {
      const x = raw[j * D + d];
      if (!Number.isFinite(x)) throw new DataError({ field: sensor, reason: `value ${x} is not a finite number` });
      out[j * D + d] = (x + (f.discrete ? f.discrete.gap / 2 : 0) - f.mean) / f.std;
    });
  });
  return out;
}
