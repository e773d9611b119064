// Drift monitors for the live score stream and its inputs:
//  - a two-sample Kolmogorov-Smirnov test of the last `window` scores against the active model's
//    calibration scores (kept in the threshold state as 1001 evenly spaced quantiles of the
//    calibration sample, n = nCalibration), asymptotic p-value with Stephens' small-sample factor;
//  - Page-Hinkley (upward) on scores standardised by the calibration mean and sd, with the mean
//    seeded from calibration so a shift right after deployment is caught;
//  - per-sensor mean of the standardised inputs over the window (training sd units).
// Scores are autocorrelated: each is the mean NLL of the last `scoreWindow` steps, so neighbours
// share data. The KS p-value uses effective sample sizes n / scoreWindow for both samples (the
// number of non-overlapping score windows); autocorrelation beyond that (slow load cycles, the
// LSTM state) still makes the p-value optimistic, which is why ksAlpha is small (1e-3) and the
// window should span whole cycles (a day). The window's lag-1 autocorrelation is reported as a
// diagnostic. See docs/api.md.
import { EventEmitter } from 'node:events';
import type { ThresholdState } from '../scoring/threshold.ts';

export interface DriftConfig {
  window: number;
  ksAlpha: number;
  phDelta: number;
  phLambda: number;
  meanShiftSd: number;
}

/** Kolmogorov distribution tail Q(λ) = 2 Σ (-1)^{j-1} exp(-2 j² λ²). */
export function kolmogorovQ(lambda: number): number {
  if (lambda < 0.2) return 1;
  let sum = 0;
  for (let j = 1; j <= 100; j++) {
    const term = Math.exp(-2 * j * j * lambda * lambda);
    sum += (j % 2 ? 1 : -1) * term;
    if (term < 1e-12) break;
  }
  return Math.min(1, Math.max(0, 2 * sum));
}

/** KS statistic and p-value of `sample` against a reference given by CDF(x) and its size. */
/** Lag-1 autocorrelation of a series, clamped to [0, 0.99]. */
export function lag1Autocorrelation(x: ArrayLike<number>): number {
  const n = x.length;
  if (n < 3) return 0;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i] / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    den += (x[i] - mean) ** 2;
    if (i > 0) num += (x[i] - mean) * (x[i - 1] - mean);
  }
  if (!(den > 0)) return 0;
  return Math.min(0.99, Math.max(0, num / den));
}

/**
 * KS statistic and p-value of `sample` against a reference given by CDF(x) and its size. With
 * `sizeFactor` < 1 both sample sizes are scaled by it (effective sizes of autocorrelated data).
 */
export function ksAgainst(sample: ArrayLike<number>, cdf: (x: number) => number, nRef: number, refPoints: ArrayLike<number> = [], sizeFactor = 1): { statistic: number; pValue: number } {
  const s = Float64Array.from(sample).sort();
  const n = s.length;
  let d = 0;
  for (let i = 0; i < n; i++) {
    const f = cdf(s[i]);
    d = Math.max(d, Math.abs((i + 1) / n - f), Math.abs(i / n - f));
  }
  // Also at the reference's own points (where its CDF jumps), with the sample's ECDF there.
  let j = 0;
  const sortedRef = Float64Array.from(refPoints).sort();
  for (const x of sortedRef) {
    while (j < n && s[j] <= x) j++;
    d = Math.max(d, Math.abs(j / n - cdf(x)));
  }
  const ne = Math.max(1, (sizeFactor * n * nRef) / (n + nRef));
  const sq = Math.sqrt(ne);
  return { statistic: d, pValue: kolmogorovQ((sq + 0.12 + 0.11 / sq) * d) };
}

/** Two-sample KS test on two plain samples (used by tests and offline checks). */
export function ksTwoSample(a: ArrayLike<number>, b: ArrayLike<number>): { statistic: number; pValue: number } {
  const sb = Float64Array.from(b).sort();
  const cdf = (x: number): number => {
    let lo = 0;
    let hi = sb.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (sb[mid] <= x) lo = mid + 1;
      else hi = mid;
    }
    return lo / sb.length;
  };
  return ksAgainst(a, cdf, sb.length, sb);
}

/** Calibration CDF from evenly spaced quantile knots (linear between knots). */
export function knotsCdf(knots: number[]): (x: number) => number {
  const m = knots.length;
  return (x: number) => {
    if (m === 1) return x < knots[0] ? 0 : 1;
    if (x < knots[0]) return 0;
    if (x >= knots[m - 1]) return 1;
    let lo = 0;
    let hi = m - 1;
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (knots[mid] <= x) lo = mid;
      else hi = mid;
    }
    const span = knots[lo + 1] - knots[lo];
    return (lo + (span > 0 ? (x - knots[lo]) / span : 0)) / (m - 1);
  };
}

export class PageHinkley {
  private mean: number;
  private n: number;
  private sum = 0;
  private min = 0;
  statistic = 0;
  constructor(readonly delta: number, readonly lambda: number, seedMean = 0, seedWeight = 0) {
    this.mean = seedMean;
    this.n = seedWeight;
  }
  /** Returns true while the cumulative upward deviation exceeds lambda. */
  update(x: number): boolean {
    this.n++;
    this.mean += (x - this.mean) / this.n;
    this.sum += x - this.mean - this.delta;
    this.min = Math.min(this.min, this.sum);
    this.statistic = this.sum - this.min;
    return this.statistic > this.lambda;
  }
}

export interface DriftState {
  modelVersion: string;
  observed: number;
  window: number;
  drifting: boolean;
  /** First step (epoch ms) at which any monitor fired since the model became active. */
  since: string | null;
  ks: { statistic: number | null; pValue: number | null; autocorrelation: number | null; alpha: number; drifting: boolean };
  pageHinkley: { statistic: number; lambda: number; delta: number; drifting: boolean };
  inputs: { sensor: string; meanShiftSd: number; drifting: boolean }[];
  inputThresholdSd: number;
}

export class DriftMonitor extends EventEmitter {
  private readonly scores: Float64Array;
  private readonly inputs: Float64Array;
  private readonly inputSums: Float64Array;
  private observedSteps = 0;
  private readonly cdf: (x: number) => number;
  private readonly calMean: number;
  private readonly calSd: number;
  private readonly ph: PageHinkley;
  private ks: { statistic: number; pValue: number; autocorrelation: number } | null = null;
  private phDrift = false;
  private since: number | null = null;
  private fired = false;
  private readonly width: number;

  constructor(
    readonly cfg: DriftConfig,
    readonly modelVersion: string,
    private readonly threshold: ThresholdState,
    private readonly sensors: string[],
    private readonly features: number,
    /** The model's score window: consecutive scores overlap in this many steps. */
    private readonly scoreWindow = 1,
  ) {
    super();
    const knots = threshold.empiricalQuantiles;
    this.cdf = knotsCdf(knots);
    this.calMean = knots.reduce((s, v) => s + v, 0) / knots.length;
    const varc = knots.reduce((s, v) => s + (v - this.calMean) ** 2, 0) / Math.max(1, knots.length - 1);
    this.calSd = Math.sqrt(varc) || 1;
    this.ph = new PageHinkley(cfg.phDelta, cfg.phLambda, 0, Math.min(threshold.nCalibration, 1000));
    this.scores = new Float64Array(cfg.window);
    this.width = sensors.length * features;
    this.inputs = new Float64Array(cfg.window * this.width);
    this.inputSums = new Float64Array(this.width);
  }

  /** One scored step: its total score and its standardised input row ([K*D], model order). */
  observe(total: number, standardised: ArrayLike<number>, timestampMs: number): void {
    const W = this.cfg.window;
    const slot = this.observedSteps % W;
    this.scores[slot] = total;
    const base = slot * this.width;
    for (let i = 0; i < this.width; i++) {
      if (this.observedSteps >= W) this.inputSums[i] -= this.inputs[base + i];
      this.inputs[base + i] = standardised[i];
      this.inputSums[i] += standardised[i];
    }
    this.observedSteps++;
    this.phDrift = this.ph.update((total - this.calMean) / this.calSd) || this.phDrift;
    if (this.observedSteps >= W && (this.observedSteps % Math.max(1, Math.floor(W / 30)) === 0 || this.observedSteps === W)) {
      const ordered = new Float64Array(W);
      for (let i = 0; i < W; i++) ordered[i] = this.scores[(this.observedSteps + i) % W];
      const r = lag1Autocorrelation(ordered);
      this.ks = { ...ksAgainst(ordered, this.cdf, this.threshold.nCalibration, this.threshold.empiricalQuantiles, 1 / this.scoreWindow), autocorrelation: r };
    }
    const s = this.state();
    if (s.drifting && !this.fired) {
      this.fired = true;
      this.since = timestampMs;
      this.emit('drift', this.state());
    }
  }

  state(): DriftState {
    const W = this.cfg.window;
    const n = Math.min(this.observedSteps, W);
    const full = this.observedSteps >= W;
    const inputs = this.sensors.map((sensor, k) => {
      let worst = 0;
      for (let d = 0; d < this.features; d++) worst = Math.max(worst, Math.abs(n ? this.inputSums[k * this.features + d] / n : 0));
      return { sensor, meanShiftSd: worst, drifting: full && worst > this.cfg.meanShiftSd };
    });
    const ksDrift = full && this.ks !== null && this.ks.pValue < this.cfg.ksAlpha;
    const drifting = ksDrift || this.phDrift || inputs.some((i) => i.drifting);
    return {
      modelVersion: this.modelVersion,
      observed: this.observedSteps,
      window: W,
      drifting,
      since: this.since === null ? null : new Date(this.since).toISOString(),
      ks: { statistic: this.ks?.statistic ?? null, pValue: this.ks?.pValue ?? null, autocorrelation: this.ks?.autocorrelation ?? null, alpha: this.cfg.ksAlpha, drifting: ksDrift },
      pageHinkley: { statistic: this.ph.statistic, lambda: this.cfg.phLambda, delta: this.cfg.phDelta, drifting: this.phDrift },
      inputs,
      inputThresholdSd: this.cfg.meanShiftSd,
    };
  }
}
