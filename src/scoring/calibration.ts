// Per-sensor calibration: each sensor's conditional window NLL becomes a tail probability under
// that sensor's own validation distribution, reported as a surprise -log P(NLL_k >= v).
//
// Why: raw NLLs are not comparable across sensors (a noisy sensor's normal NLL sits far above a
// quiet one's) and the flow's tails let an outlier's NLL reach 1e16, so a raw sum is dominated
// by whichever sensor explodes. Surprises are on one scale (about Exp(1) under normal data), and
// the tail is made robust to anomalies hidden in the calibration data: beyond the 90 % quantile
// an exponential tail is extrapolated from the 75-90 % body, not fitted to the top values, which
// are where contamination sits. Very large surprises grow logarithmically, so the ranking of
// steps is kept but one sensor cannot swamp every other one.
import { z } from 'zod';
import { quantileSorted } from './threshold.ts';

/** Quantile levels stored per sensor: 0, 0.05, ..., 0.9 (the body; beyond 0.9 the tail model). */
const LEVELS = Array.from({ length: 19 }, (_, i) => i / 20);
const MEDIAN_INDEX = 10;
const TAIL_LEVEL = 0.9;
const TAIL_FROM = 0.75;
/** Surprises beyond this (P < 1e-13) grow like its log. */
export const SURPRISE_SOFT_CAP = 30;
const MIN_SCALE = 1e-3;

const SensorTailSchema = z.strictObject({
  /** NLL quantiles at LEVELS (non-decreasing). */
  quantiles: z.array(z.number()).length(LEVELS.length),
  /** Scale of the exponential tail beyond the 0.9 quantile. */
  beta: z.number().positive(),
});

export const SensorCalibrationSchema = z.strictObject({
  kind: z.literal('per-sensor-tail'),
  /** Steps the calibration was fitted on. */
  n: z.number().int().positive(),
  sensors: z.array(SensorTailSchema).min(1),
});
export type SensorCalibration = z.infer<typeof SensorCalibrationSchema>;

/** Fits one tail model per sensor from calibration NLLs [T*K] (t*K + k). */
export function fitCalibration(perSensor: ArrayLike<number>, K: number): SensorCalibration {
  const T = perSensor.length / K;
  if (!Number.isInteger(T) || T < 2) throw new RangeError(`calibration needs at least 2 steps of ${K} sensors, got ${perSensor.length} values`);
  const col = new Float64Array(T);
  const sensors = [];
  for (let k = 0; k < K; k++) {
    let n = 0;
    for (let t = 0; t < T; t++) {
      const v = perSensor[t * K + k];
      // A non-finite calibration NLL says nothing about the body; it is the tail's business.
      if (Number.isFinite(v)) col[n++] = v;
    }
    if (n < 2) throw new RangeError(`sensor ${k} has fewer than 2 finite calibration scores`);
    const sorted = col.subarray(0, n).sort();
    const q = (p: number) => quantileSorted(sorted, p);
    const quantiles = LEVELS.map(q);
    // Exponential tail through the 0.75 and 0.9 quantiles: P(V > q90) / P(V > q75) = 0.4 = exp(-(q90 - q75)/beta).
    const spread = q(TAIL_LEVEL) - q(TAIL_FROM);
    const iqrScale = (q(0.75) - q(0.25)) / 1.349;
    const beta = Math.max(spread / Math.log((1 - TAIL_FROM) / (1 - TAIL_LEVEL)), 0.25 * iqrScale, MIN_SCALE);
    sensors.push({ quantiles, beta });
  }
  return { kind: 'per-sensor-tail', n: T, sensors };
}

/** -log P(NLL_k >= v) under sensor k's calibration, softly capped; 0 at or below its minimum. */
export function surprise(cal: SensorCalibration, k: number, v: number): number {
  const { quantiles, beta } = cal.sensors[k];
  if (Number.isNaN(v)) return SURPRISE_SOFT_CAP;
  const top = quantiles[quantiles.length - 1];
  let s: number;
  if (v > top) {
    s = -Math.log(1 - TAIL_LEVEL) + (v - top) / beta;
  } else if (v <= quantiles[0]) {
    return 0;
  } else {
    let i = 0;
    while (quantiles[i + 1] < v) i++;
    const span = quantiles[i + 1] - quantiles[i];
    const level = LEVELS[i] + (span > 0 ? ((v - quantiles[i]) / span) * (LEVELS[i + 1] - LEVELS[i]) : 0);
    s = -Math.log(1 - level);
  }
  return softCap(s);
}

/** A surprise beyond SURPRISE_SOFT_CAP grows like its log: the ranking is kept, one sensor cannot swamp the rest. */
export function softCap(s: number): number {
  return s <= SURPRISE_SOFT_CAP ? s : SURPRISE_SOFT_CAP + Math.log1p(s - SURPRISE_SOFT_CAP);
}

/** Calibrated surprises of one step's K NLLs (perSensor[offset .. offset+K)) into out[0..K). */
export function surpriseRow(cal: SensorCalibration, perSensor: ArrayLike<number>, offset: number, K: number, out: Float32Array | Float64Array): void {
  for (let k = 0; k < K; k++) out[k] = surprise(cal, k, perSensor[offset + k]);
}

/** The median calibration NLL per sensor (the reference "excess" is measured from). */
export function calibrationMedians(cal: SensorCalibration): Float32Array {
  return Float32Array.from(cal.sensors, (s) => s.quantiles[MEDIAN_INDEX]);
}
