// Drift-tolerant surprises: each sensor's calibrated surprise is measured against where that
// sensor's surprise has sat over the last week, not only against the validation period.
//
// Why: a sensor whose operating point drifts slowly (a recalibrated gauge, a season, a pump
// schedule that changed) keeps a high surprise for weeks. Every step then looks anomalous, the
// label-free threshold floods with one "incident" that lasts until the next refit, and a real
// incident on other sensors is buried under it. An incident is a departure from the recent
// normal; a level that has held for half a week or more is the new normal until a refit learns it.
//
// How: the surprises of each sensor are kept per bucket of `bucketSteps` steps (a quarter of a day
// at the training data's cadence, at least 6 steps) as a histogram, and each completed bucket
// keeps only its median. A sensor's shift is how far the median of its last BUCKETS (a week of)
// bucket medians sits above the validation median of the surprise (ln 2: the calibration maps the
// validation median NLL there), never below 0; the step's surprise is reduced by it, floored at 0.
// Quarter days rather than days: a day holds a load cycle (demand, traffic), and a daily median
// mixes its peak and trough hours, so a sensor that drifted in part of the cycle would never move
// it; a quarter keeps the parts of the cycle apart. The buckets start at ln 2 (as if a week of
// validation-like data had been seen), so a fresh scorer adjusts nothing and data shorter than
// half a week is scored as calibrated. A level starts to move the shift when it holds in half of
// the week's buckets (the median of 28 is the mean of the middle two), so an incident of hours or
// a few days is not absorbed.
// State per sensor is BUCKETS medians and one histogram: O(K) per step and per snapshot, the same
// in batch and stream (both feed the same steps in the same order).
import { z } from 'zod';

/** Completed buckets whose medians set the baseline: a week of quarter days. */
export const BASELINE_BUCKETS = 28; // even: the median is the mean of the middle two
const BUCKET_MS = 86_400_000 / 4;
const MIN_BUCKET_STEPS = 6;
/**
 * A sensor is reported as drifted while its baseline takes off at least this much surprise: its
 * recent median NLL then sits above about 82 % of its validation NLLs (validation median: 50 %).
 */
export const DRIFTED_SHIFT = 1;
/** The validation median of every sensor's surprise, -log(1 - 0.5), as the float32 the medians are kept in. */
export const VALIDATION_MEDIAN_SURPRISE = Math.fround(Math.LN2);
/**
 * Histogram of a bucket: bins 0.25 wide over [0, 8) (where normal levels sit), 1 wide over [8, 40)
 * (a sensor in another regime sits at 10-30: the soft cap is 30), and one overflow bin.
 */
const FINE_WIDTH = 0.25;
const FINE_BINS = 32;
const FINE_TOP = FINE_BINS * FINE_WIDTH;
const COARSE_BINS = 32;
const BINS = FINE_BINS + COARSE_BINS;
const TOP = FINE_TOP + COARSE_BINS;
const CELLS = BINS + 1;

function binOf(s: number): number {
  if (!(s >= 0)) return 0;
  if (s < FINE_TOP) return Math.floor(s / FINE_WIDTH);
  return Math.min(BINS, FINE_BINS + Math.floor(s - FINE_TOP));
}

/** Steps per bucket for data sampled every `intervalMs`: a quarter of a day, at least 6 steps. */
export function baselineBucketSteps(intervalMs: number): number {
  if (!(intervalMs > 0)) throw new RangeError(`intervalMs must be > 0, got ${intervalMs}`);
  return Math.max(MIN_BUCKET_STEPS, Math.round(BUCKET_MS / intervalMs));
}

export const SurpriseBaselineSnapshotSchema = z.strictObject({
  bucketSteps: z.number().int().min(1),
  /** Steps in the current bucket. */
  inBucket: z.number().int().min(0),
  /** Buckets completed since the start (the ring position). */
  completed: z.number().int().min(0),
  /** base64 float32 [BASELINE_BUCKETS * K]: the completed buckets' medians, ring order. */
  medians: z.string(),
  /** base64 uint32 [K * 65]: the current bucket's histogram per sensor. */
  counts: z.string(),
});
export type SurpriseBaselineSnapshot = z.infer<typeof SurpriseBaselineSnapshotSchema>;

export class SurpriseBaseline {
  private readonly medians: Float32Array;
  private readonly counts: Uint32Array;
  /** Per sensor: how far its recent median surprise sits above the validation median (>= 0). */
  readonly shift: Float64Array;
  private inBucket = 0;
  private completed = 0;
  // The shift only changes when a bucket closes: the drifted list is kept with it, not rebuilt per step.
  private driftedNow: readonly number[] = [];

  constructor(readonly K: number, readonly bucketSteps: number) {
    if (!(Number.isInteger(bucketSteps) && bucketSteps >= 1)) throw new RangeError(`bucketSteps must be a positive integer, got ${bucketSteps}`);
    this.medians = new Float32Array(BASELINE_BUCKETS * K).fill(VALIDATION_MEDIAN_SURPRISE);
    this.counts = new Uint32Array(K * CELLS);
    this.shift = new Float64Array(K);
  }

  /**
   * One step: the raw surprises [K] join the current bucket and are replaced in place by the
   * drift-tolerant ones (the shift of the completed buckets taken off, floored at 0).
   */
  adjust(surprise: Float32Array | Float64Array): void {
    const K = this.K;
    for (let k = 0; k < K; k++) {
      const s = surprise[k];
      this.counts[k * CELLS + binOf(s)]++;
      surprise[k] = Math.max(0, s - this.shift[k]);
    }
    if (++this.inBucket === this.bucketSteps) this.closeBucket();
  }

  private closeBucket(): void {
    const K = this.K;
    const slot = (this.completed % BASELINE_BUCKETS) * K;
    for (let k = 0; k < K; k++) this.medians[slot + k] = histogramMedian(this.counts.subarray(k * CELLS, (k + 1) * CELLS), this.inBucket);
    this.counts.fill(0);
    this.inBucket = 0;
    this.completed++;
    this.recomputeShift();
  }

  /** Sensors (indices) whose level is being taken off as drift (shift >= DRIFTED_SHIFT). */
  drifted(): readonly number[] {
    return this.driftedNow;
  }

  snapshot(): SurpriseBaselineSnapshot {
    const b64 = (a: Float32Array | Uint32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('base64');
    return { bucketSteps: this.bucketSteps, inBucket: this.inBucket, completed: this.completed, medians: b64(this.medians), counts: b64(this.counts) };
  }

  /** The baseline a snapshot describes; refused when it was taken for another K or bucket size. */
  static restore(K: number, bucketSteps: number, raw: unknown): SurpriseBaseline {
    const s = SurpriseBaselineSnapshotSchema.parse(raw);
    if (s.bucketSteps !== bucketSteps) throw new Error(`surprise baseline snapshot has buckets of ${s.bucketSteps} steps, the model uses ${bucketSteps}`);
    if (s.inBucket >= bucketSteps) throw new Error(`surprise baseline snapshot: inBucket ${s.inBucket} is not below bucketSteps ${bucketSteps}`);
    const out = new SurpriseBaseline(K, bucketSteps);
    const medians = Buffer.from(s.medians, 'base64');
    const counts = Buffer.from(s.counts, 'base64');
    if (medians.byteLength !== out.medians.byteLength) throw new Error(`surprise baseline snapshot: medians hold ${medians.byteLength / 4} values, expected ${out.medians.length}`);
    if (counts.byteLength !== out.counts.byteLength) throw new Error(`surprise baseline snapshot: counts hold ${counts.byteLength / 4} values, expected ${out.counts.length}`);
    out.medians.set(new Float32Array(medians.buffer.slice(medians.byteOffset, medians.byteOffset + medians.byteLength)));
    out.counts.set(new Uint32Array(counts.buffer.slice(counts.byteOffset, counts.byteOffset + counts.byteLength)));
    out.inBucket = s.inBucket;
    out.completed = s.completed;
    // The shift is a function of the medians: recompute it rather than trust a second copy.
    out.recomputeShift();
    return out;
  }

  private recomputeShift(): void {
    const K = this.K;
    const week = new Float32Array(BASELINE_BUCKETS);
    for (let k = 0; k < K; k++) {
      for (let b = 0; b < BASELINE_BUCKETS; b++) week[b] = this.medians[b * K + k];
      week.sort();
      const mid = BASELINE_BUCKETS >> 1;
      this.shift[k] = Math.max(0, (week[mid - 1] + week[mid]) / 2 - VALIDATION_MEDIAN_SURPRISE);
    }
    const drifted: number[] = [];
    for (let k = 0; k < K; k++) if (this.shift[k] >= DRIFTED_SHIFT) drifted.push(k);
    this.driftedNow = drifted;
  }
}

/**
 * The median of `n` values counted in the bucket histogram's bins, interpolated linearly inside the
 * bin that holds it (the overflow bin reads as its lower edge, 40).
 */
export function histogramMedian(counts: ArrayLike<number>, n: number): number {
  const half = n / 2;
  let below = 0;
  for (let b = 0; b < BINS; b++) {
    const c = counts[b];
    if (below + c >= half && c > 0) {
      const [lower, width] = b < FINE_BINS ? [b * FINE_WIDTH, FINE_WIDTH] : [FINE_TOP + (b - FINE_BINS), 1];
      return lower + ((half - below) / c) * width;
    }
    below += c;
  }
  return TOP;
}
