// Label-free alert thresholds from calibration scores. A plain quantile cannot reach risk levels
// rarer than 1/n; SPOT (Siffer et al., KDD 2017) extrapolates by fitting a generalised Pareto
// distribution (GPD) to the exceedances over a high initial threshold (Pickands-Balkema-de Haan).
import { z } from 'zod';
import type { ThresholdConfig } from '../config.ts';

const GpdSchema = z.strictObject({
  xi: z.number(),
  sigma: z.number().positive(),
  /** How the GPD was fitted: profile-likelihood MLE, method of moments, or the xi = 0 exponential. */
  fit: z.enum(['mle', 'moments', 'exponential']),
  nPeaks: z.number().int().positive(),
});

export const ThresholdStateSchema = z.strictObject({
  /** robust-tail: the fallback when a spot/quantile fit failed its sanity check (see `fallback`; an extrapolated spot fit falls back to a quantile). */
  method: z.enum(['quantile', 'spot', 'robust-tail']),
  /** 'quantile': the quantile level (e.g. 0.99); 'spot': the risk q = P(score > value) (e.g. 1e-3). */
  level: z.number(),
  value: z.number(),
  /** 'spot': the initial threshold t the GPD sits on; 'quantile': equal to value. */
  initialThreshold: z.number(),
  gpd: GpdSchema.nullable(),
  nCalibration: z.number().int().positive(),
  /** Calibration quantiles at evenly spaced levels 0..1, for tail probabilities below t. */
  empiricalQuantiles: z.array(z.number()).min(1),
  /** Why the configured method's threshold was replaced (thresholdProblem), when it was. */
  fallback: z.string().optional(),
});

export type GpdFit = z.infer<typeof GpdSchema>;
export type ThresholdState = z.infer<typeof ThresholdStateSchema>;

export const SpotOptionsSchema = z.strictObject({
  /** Risk level: the returned threshold is exceeded with estimated probability q. */
  q: z.number().gt(0).lt(1).default(1e-3),
  /** Quantile of the calibration scores that sets the initial threshold t. */
  initialQuantile: z.number().gt(0).lt(1).default(0.98),
  /** Fewer exceedances than this cannot support a tail fit. */
  minPeaks: z.number().int().min(3).default(10),
});
export type SpotOptions = z.input<typeof SpotOptionsSchema>;

const MAX_KNOTS = 1001;

export function parseThresholdState(json: unknown): ThresholdState {
  const parsed = ThresholdStateSchema.safeParse(json);
  if (!parsed.success) throw new RangeError(`invalid threshold state: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

function sortedFinite(scores: ArrayLike<number>): Float64Array {
  if (scores.length === 0) throw new RangeError('no calibration scores');
  for (let i = 0; i < scores.length; i++) {
    if (!Number.isFinite(scores[i])) throw new RangeError(`calibration score at index ${i} is ${scores[i]}; scores must be finite`);
  }
  return Float64Array.from(scores).sort();
}

/** Linear interpolation between order statistics (type 7, numpy's default) on sorted data. */
export function quantileSorted(sorted: Float64Array, q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  const hi = Math.min(lo + 1, sorted.length - 1);
  return sorted[lo] + (h - lo) * (sorted[hi] - sorted[lo]);
}

export function empiricalQuantile(scores: ArrayLike<number>, q: number): number {
  if (!(q >= 0 && q <= 1)) throw new RangeError(`quantile level ${q} is outside [0, 1]`);
  return quantileSorted(sortedFinite(scores), q);
}

function knots(sorted: Float64Array): number[] {
  const m = Math.min(sorted.length, MAX_KNOTS);
  if (m === 1) return [sorted[0]];
  return Array.from({ length: m }, (_, i) => quantileSorted(sorted, i / (m - 1)));
}

export function quantileThreshold(scores: ArrayLike<number>, q: number): ThresholdState {
  if (!(q > 0 && q < 1)) throw new RangeError(`quantile level ${q} must be in (0, 1)`);
  const sorted = sortedFinite(scores);
  const value = quantileSorted(sorted, q);
  return {
    method: 'quantile',
    level: q,
    value,
    initialThreshold: value,
    gpd: null,
    nCalibration: sorted.length,
    empiricalQuantiles: knots(sorted),
  };
}

// ---------------------------------------------------------------------------------------------
// GPD fit

/** xi(theta) = mean(log(1 + theta*y)): the profile MLE of xi for fixed theta = xi/sigma. */
function xiOf(y: Float64Array, theta: number): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += Math.log1p(theta * y[i]);
  return s / y.length;
}

/** Profile log-likelihood per peak; theta = 0 is the exponential limit. */
function profileLogLik(y: Float64Array, theta: number, mean: number): number {
  if (theta === 0) return -Math.log(mean) - 1;
  const xi = xiOf(y, theta);
  return -Math.log(xi / theta) - 1 - xi;
}

function momentsFit(y: Float64Array, mean: number): { xi: number; sigma: number } {
  let ss = 0;
  for (let i = 0; i < y.length; i++) ss += (y[i] - mean) ** 2;
  const variance = ss / Math.max(1, y.length - 1);
  const r = (mean * mean) / variance;
  return { xi: 0.5 * (1 - r), sigma: 0.5 * mean * (r + 1) };
}

function goldenMax(f: (x: number) => number, a: number, b: number, iterations = 80): number {
  const g = (Math.sqrt(5) - 1) / 2;
  let c = b - g * (b - a);
  let d = a + g * (b - a);
  let fc = f(c);
  let fd = f(d);
  for (let i = 0; i < iterations; i++) {
    if (fc > fd) {
      b = d;
      d = c;
      fd = fc;
      c = b - g * (b - a);
      fc = f(c);
    } else {
      a = c;
      c = d;
      fc = fd;
      d = a + g * (b - a);
      fd = f(d);
    }
  }
  return (a + b) / 2;
}

/**
 * Fits a GPD to positive exceedances. Grimshaw's reduction: for theta = xi/sigma the likelihood is
 * maximised in closed form over xi, leaving a 1-D search over theta, done here by a log-spaced
 * grid (which finds the global maximum among Grimshaw's roots) refined by golden section. xi is
 * kept >= -0.5, below which the MLE is irregular and the likelihood unbounded at the endpoint;
 * a maximum on that boundary or a non-finite fit falls back to the method of moments.
 */
export function fitGpd(exceedances: ArrayLike<number>): GpdFit {
  const y = Float64Array.from(exceedances);
  const n = y.length;
  if (n < 3) throw new RangeError(`need at least 3 exceedances to fit a GPD, got ${n}`);
  let mean = 0;
  let ymax = 0;
  for (const v of y) {
    if (!(v > 0) || !Number.isFinite(v)) throw new RangeError(`exceedances must be positive and finite, got ${v}`);
    mean += v / n;
    ymax = Math.max(ymax, v);
  }
  let min = Infinity;
  for (const v of y) min = Math.min(min, v);
  if (ymax - min <= 1e-12 * ymax) return { xi: 0, sigma: mean, fit: 'exponential', nPeaks: n };

  // Lower end of theta: where xi(theta) = -0.5 (xi is increasing in theta), found by bisection.
  let lo = -1 / ymax;
  let hi = 0;
  for (let i = 0; i < 200; i++) {
    const mid = (lo + hi) / 2;
    if (xiOf(y, mid) < -0.5) lo = mid;
    else hi = mid;
  }
  const thetaMin = hi;
  const G = 160;
  const grid: number[] = [];
  // Log-spaced on both sides of 0 so both near-exponential and heavy tails get resolution.
  for (let i = 0; i < G; i++) grid.push(thetaMin * Math.pow(1e-8, i / (G - 1)));
  grid.push(0);
  for (let i = 0; i < G; i++) grid.push((Math.pow(10, -8 + (14 * i) / (G - 1))) / mean);
  const ll = grid.map((th) => profileLogLik(y, th, mean));

  let best = 0;
  for (let i = 1; i < grid.length; i++) if (ll[i] > ll[best]) best = i;
  const atBoundary = best === 0 || best === grid.length - 1;
  if (!Number.isFinite(ll[best]) || atBoundary) {
    const m = momentsFit(y, mean);
    return Number.isFinite(m.xi) && m.sigma > 0
      ? { ...m, fit: 'moments', nPeaks: n }
      : { xi: 0, sigma: mean, fit: 'exponential', nPeaks: n };
  }
  if (grid[best] === 0) return { xi: 0, sigma: mean, fit: 'exponential', nPeaks: n };

  const theta = goldenMax((th) => (th === 0 ? ll[G] : profileLogLik(y, th, mean)), grid[best - 1], grid[best + 1]);
  if (theta === 0 || profileLogLik(y, theta, mean) <= ll[G]) return { xi: 0, sigma: mean, fit: 'exponential', nPeaks: n };
  const xi = xiOf(y, theta);
  return { xi, sigma: xi / theta, fit: 'mle', nPeaks: n };
}

/** (r^-xi - 1)/xi, continuous through xi = 0 where it is -log r. */
function gpdQuantileFactor(r: number, xi: number): number {
  const lr = Math.log(r);
  return Math.abs(xi) < 1e-12 ? -lr : Math.expm1(-xi * lr) / xi;
}

export function spotThreshold(scores: ArrayLike<number>, options: SpotOptions = {}): ThresholdState {
  const parsed = SpotOptionsSchema.safeParse(options);
  if (!parsed.success) throw new RangeError(`invalid SPOT options: ${z.prettifyError(parsed.error)}`);
  const { q, initialQuantile, minPeaks } = parsed.data;
  const sorted = sortedFinite(scores);
  const n = sorted.length;
  const t = quantileSorted(sorted, initialQuantile);
  const peaks: number[] = [];
  for (let i = n - 1; i >= 0 && sorted[i] > t; i--) peaks.push(sorted[i] - t);
  if (peaks.length < minPeaks) {
    throw new RangeError(
      `only ${peaks.length} calibration scores exceed the initial threshold (quantile ${initialQuantile}); ` +
        `need ${minPeaks}: supply at least ${Math.ceil(minPeaks / (1 - initialQuantile))} scores or lower initialQuantile`,
    );
  }
  const r = (q * n) / peaks.length;
  if (r >= 1) {
    throw new RangeError(
      `risk level q = ${q} is not beyond the initial threshold (exceeded by ${peaks.length}/${n}); ` +
        'use a smaller q, a higher initialQuantile, or quantileThreshold',
    );
  }
  const gpd = fitGpd(peaks);
  return {
    method: 'spot',
    level: q,
    value: t + gpd.sigma * gpdQuantileFactor(r, gpd.xi),
    initialThreshold: t,
    gpd,
    nCalibration: n,
    empiricalQuantiles: knots(sorted),
  };
}

function empiricalExceedance(knotsArr: number[], s: number): number {
  const m = knotsArr.length;
  if (s < knotsArr[0]) return 1;
  if (s >= knotsArr[m - 1]) return 0;
  // Largest i with knots[i] <= s, so a tied value counts as reached.
  let lo = 0;
  let hi = m - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (knotsArr[mid] <= s) lo = mid;
    else hi = mid;
  }
  const span = knotsArr[lo + 1] - knotsArr[lo];
  const frac = span > 0 ? (s - knotsArr[lo]) / span : 0;
  return 1 - (lo + frac) / (m - 1);
}

/**
 * Estimated P(score > s), for severity: above the SPOT initial threshold t from the GPD tail
 * (N_t/n)(1 + xi (s - t)/sigma)^(-1/xi); at or below t (and for quantile thresholds) from the
 * calibration scores' empirical distribution.
 */
/**
 * The threshold comparison, the one place it is made: a step alerts when its score is strictly
 * above the threshold (batch, stream, shadow scoring, the alert engine, baselines, fitting checks).
 */
export function exceeds(score: number, threshold: number): boolean {
  return score > threshold;
}

export function tailProbability(score: number, state: ThresholdState): number {
  if (Number.isNaN(score)) throw new RangeError('score is NaN');
  const t = state.initialThreshold;
  if (state.method !== 'spot' || !state.gpd || score <= t) return empiricalExceedance(state.empiricalQuantiles, score);
  const { xi, sigma, nPeaks } = state.gpd;
  const z = (score - t) / sigma;
  const base = nPeaks / state.nCalibration;
  if (Math.abs(xi) < 1e-12) return base * Math.exp(-z);
  const inner = 1 + xi * z;
  // Beyond the finite upper endpoint of a bounded (xi < 0) tail.
  if (inner <= 0) return 0;
  return base * Math.exp((-1 / xi) * Math.log(inner));
}

/**
 * A threshold for risk q from the body of the calibration scores only: an exponential tail
 * through their 0.75 and 0.9 quantiles, extrapolated to q. Anomalies hidden in the calibration
 * data sit in its top values, which this never looks at, so it stays where normal data puts it.
 */
export function robustThreshold(scores: ArrayLike<number>, q: number, reason: string): ThresholdState {
  const sorted = sortedFinite(scores);
  const q75 = quantileSorted(sorted, 0.75);
  const q90 = quantileSorted(sorted, 0.9);
  const iqr = q75 - quantileSorted(sorted, 0.25);
  const beta = Math.max((q90 - q75) / Math.log(2.5), 0.1 * iqr, 1e-9 * Math.max(1, Math.abs(q90)));
  return {
    method: 'robust-tail',
    level: q,
    value: q90 + beta * Math.log(0.1 / Math.min(q, 0.1)),
    initialThreshold: q90,
    gpd: null,
    nCalibration: sorted.length,
    empiricalQuantiles: knots(sorted),
    fallback: reason,
  };
}

/** What is wrong with a fitted threshold (thresholdProblem), and so what replaces it (fitThreshold). */
export interface ThresholdProblem {
  kind: 'fires-too-often' | 'extrapolated' | 'contaminated';
  reason: string;
}

/**
 * Checks a fitted threshold against its calibration scores; returns what makes it unusable, or
 * undefined. Fires too often: on more than `maxAlertRate` of the calibration steps.
 * Extrapolated: a SPOT threshold farther above the largest calibration score than that score is
 * above the initial threshold; from a few dozen peaks the GPD's shape is too uncertain to carry
 * the threshold that far (Los-loop's 20 validation peaks gave xi 1.05 and a threshold at twice
 * the largest score, and it never fired on the test weeks).
 * Contaminated: it lies more than 4x as far above the median as the robust body extrapolation while
 * over 2 % of the calibration steps sit beyond that extrapolation: a cluster that size is an
 * incident in the calibration data, not a heavy normal tail (BATADAL's normal tail puts 0.5 %
 * there, and its SPOT threshold is the right one).
 */
export function thresholdProblem(t: ThresholdState, scores: ArrayLike<number>, maxAlertRate: number): ThresholdProblem | undefined {
  const sorted = sortedFinite(scores);
  const share = (v: number) => {
    let above = 0;
    for (const x of sorted) if (exceeds(x, v)) above++;
    return above / sorted.length;
  };
  const rate = share(t.value);
  if (rate > maxAlertRate) return { kind: 'fires-too-often', reason: `the ${t.method} threshold ${fmt(t.value)} fires on ${(100 * rate).toFixed(1)} % of the calibration steps` };
  const max = sorted[sorted.length - 1];
  if (t.method === 'spot' && t.value - max > max - t.initialThreshold) {
    return {
      kind: 'extrapolated',
      reason: `the spot threshold ${fmt(t.value)} lies farther above the largest calibration score (${fmt(max)}) than that score lies above ` +
        `the tail fit's initial threshold (${fmt(t.initialThreshold)}): the fitted shape (xi ${fmt(t.gpd?.xi ?? 0)}) is extrapolated, not the data`,
    };
  }
  const median = quantileSorted(sorted, 0.5);
  const robust = robustThreshold(sorted, t.level, '').value;
  const beyond = share(robust);
  if (t.value - median > 4 * (robust - median) && beyond > 0.02) {
    return {
      kind: 'contaminated',
      reason: `the ${t.method} threshold ${fmt(t.value)} is 4x farther from the median (${fmt(median)}) than the robust tail allows (${fmt(robust)}) ` +
        `and ${(100 * beyond).toFixed(1)} % of the calibration steps lie between: the calibration tail looks contaminated`,
    };
  }
  return undefined;
}

/**
 * The replacement for a threshold with a problem. An extrapolated tail is replaced by the data it
 * overshot: the calibration's own quantile at 1 - max(q, 1/n), the rarest level n scores state
 * without a tail model. The robust body extrapolation would sit below scores the calibration holds
 * as normal (BATADAL under the default config: the largest of 1,752 validation scores 19.6, SPOT
 * 44.3 with xi 1.5, the robust tail 7.2, above which lie 14 of them in two normal spells; on the
 * test weeks 112 false-alarm events at 7.2, 6 at the 0.999 quantile 16.4, every attack alerted at
 * both). A threshold that fires too often, or sits in an incident hidden in the calibration data,
 * is replaced by the robust body extrapolation, which never looks at the top scores.
 */
function replacement(problem: ThresholdProblem, calibration: Float32Array, q: number): ThresholdState {
  if (problem.kind !== 'extrapolated') return robustThreshold(calibration, q, problem.reason);
  return { ...rarestQuantileThreshold(calibration, q), fallback: problem.reason };
}

/** The log line for a threshold that replaced the configured one (undefined when none did). */
export function fallbackWarning(t: ThresholdState): string | undefined {
  if (!t.fallback) return undefined;
  const used = t.method === 'robust-tail' ? 'the robust tail threshold' : `the calibration's ${t.level.toPrecision(4)} quantile`;
  return `warning: ${t.fallback}; using ${used} ${t.value.toPrecision(4)} instead`;
}

/** The calibration's quantile at 1 - max(q, 1/n): risk q where n scores can state it, else between their two largest. */
function rarestQuantileThreshold(calibration: Float32Array, q: number): ThresholdState {
  return quantileThreshold(calibration, 1 - Math.max(q, 1 / calibration.length));
}

function fmt(v: number): string {
  return Number(v.toPrecision(4)).toString();
}

/** `level` is the risk q for both methods: the quantile method uses the (1 - q) quantile. */
export function fitThreshold(calibration: Float32Array, c: ThresholdConfig): ThresholdState {
  let t: ThresholdState;
  try {
    t = configuredThreshold(calibration, c);
  } catch (e) {
    return robustThreshold(calibration, c.level, `the ${c.method} threshold could not be fitted (${(e as Error).message})`);
  }
  const problem = thresholdProblem(t, calibration, c.maxCalibrationAlertRate);
  return problem ? replacement(problem, calibration, c.level) : t;
}

function configuredThreshold(calibration: Float32Array, c: ThresholdConfig): ThresholdState {
  if (c.method === 'quantile') return quantileThreshold(calibration, 1 - c.level);
  // A short calibration set lowers the initial threshold so the tail fit still has 20 peaks.
  const initialQuantile = Math.min(c.initialQuantile, 1 - 20 / calibration.length);
  if (initialQuantile < 0.8) return rarestQuantileThreshold(calibration, c.level);
  return spotThreshold(calibration, { q: c.level, initialQuantile });
}
