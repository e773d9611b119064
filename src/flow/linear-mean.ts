// The model's linear mean (see ganf.ts), fitted by least squares: per sensor j, a ridge
// regression of x_j^t on its own previous reading, its parents' current readings and 1 over the
// standardised training series, and the RMS of what it leaves (the flow models the residual in
// units of it, the unit scale standardised levels had).
//
// The own-lag coefficient is at most 1: above, the fit (a trending training window) would
// predict an explosion, and its error would grow with the distance from the training mean.
//
// Why least squares, frozen, and not gradient descent: inside the training range the recurrent
// condition can express the same mean, so the likelihood barely prefers the linear path, which
// then stays near its zero start (an own-lag weight of 0.27 on a random walk); outside the range
// only the linear path follows the data. Fitted and held where least squares puts it, the model
// extrapolates the relations it was trained on.
import type { Series } from './chunks.ts';
import { normalEquations, residualSumOfSquares, solvePenalised, type NormalEquations } from '../util/least-squares.ts';

export interface LinearMean {
  /** Coefficient of each sensor's own previous reading [K]. */
  own: Float64Array;
  /** Intercept per sensor [K]. */
  bias: Float64Array;
  /** RMS of the residual per sensor [K] (standardised units, at least MIN_SCALE). */
  scale: Float64Array;
  /** Coefficient of parent k's current reading in child j's mean, [K*K] at k*K + j (0 off the graph). */
  parents: Float64Array;
  /** Ridge on each sensor's parent coefficients, relative to its rows [K] (Infinity: none kept; NaN: no parents). */
  parentRidge: Float64Array;
}

/** Ridge on the own lag, relative to the number of rows (standardised inputs: about 1e-3 of a unit variance). */
const RIDGE = 1e-3;
/**
 * Ridges on the parents' coefficients, from trusting the training window's relations to dropping
 * them; the one whose fit predicts the validation steps best is kept, per sensor.
 */
const PARENT_RIDGES = [RIDGE, 1e-2, 1e-1, 1, 10, Infinity];
/** Smallest residual scale: 1e-3 of the sensor's standard deviation. */
const MIN_SCALE = 1e-3;

/**
 * Fits every sensor's linear mean on `s`; `parentsOf[j]` lists j's parents (empty: own lag only).
 * Features of one sensor share the coefficients (stacked rows), as the model shares them.
 *
 * With a `validation` series, each sensor's parent coefficients are shrunk by the ridge whose fit
 * predicts the validation steps best. Why: over a short training window sensors can co-move for
 * reasons that do not last (GridSTAGE's buses over 20 s: parent coefficients summing to 5-9 in
 * standardised units), and a level relation the validation steps already contradict is
 * extrapolated wherever the operating point goes; shrunk to nothing, the sensor is predicted from
 * its own previous reading only, as without a graph.
 */
export function fitLinearMean(s: Series, parentsOf: readonly (readonly number[])[], validation?: Series): LinearMean {
  const { sensors: K } = s;
  if (parentsOf.length !== K) throw new RangeError(`fitLinearMean: parents for ${parentsOf.length} sensors, series has ${K}`);
  if (validation && (validation.sensors !== K || validation.features !== s.features)) throw new RangeError('fitLinearMean: validation series has another shape');
  const own = new Float64Array(K);
  const bias = new Float64Array(K);
  const parents = new Float64Array(K * K);
  const parentRidge = new Float64Array(K).fill(NaN);
  const scale = new Float64Array(K).fill(1);
  for (let j = 0; j < K; j++) {
    const ps = parentsOf[j];
    const P = ps.length + 2; // own lag, parents, intercept (last)
    const tr = normalEquations(P, (fn) => rowsOf(s, j, ps, fn));
    if (tr.n < P) continue; // too short to say anything: no linear mean
    const va = validation && ps.length > 0 ? normalEquations(P, (fn) => rowsOf(validation, j, ps, fn)) : undefined;
    const ridges = va && va.n >= P ? PARENT_RIDGES : [RIDGE];
    const fits = ridges.map((ridge) => ({ ridge, beta: fitOne(tr, ps.length, ridge) }));
    const errors = fits.map((f) => (va ? residualSumOfSquares(va, f.beta) : 0));
    let pick = 0;
    for (let i = 1; i < fits.length; i++) if (errors[i] < errors[pick]) pick = i;
    if (ps.length > 0) parentRidge[j] = fits[pick].ridge;
    const beta = fits[pick].beta;
    own[j] = beta[0];
    ps.forEach((k, i) => { parents[k * K + j] = beta[i + 1]; });
    bias[j] = beta[P - 1];
    scale[j] = Math.max(Math.sqrt(residualSumOfSquares(tr, beta) / tr.n), MIN_SCALE);
  }
  return { own, bias, parents, scale, parentRidge };
}

/** How many sensors with parents got each ridge ("drop": parents' coefficients held at 0). */
export function parentRidgeCounts(fit: LinearMean): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of fit.parentRidge) {
    if (Number.isNaN(r)) continue;
    const key = Number.isFinite(r) ? String(r) : 'drop';
    counts[key] = (counts[key] ?? 0) + 1;
  }
  return counts;
}

/** Rows (own lag, parents' current readings, 1) and targets of sensor j, every feature stacked. */
function rowsOf(s: Series, j: number, ps: readonly number[], fn: (row: ArrayLike<number>, y: number) => void): void {
  const { sensors: K, features: D, steps: T, data } = s;
  const at = (t: number, k: number, d: number) => data[(t * K + k) * D + d];
  const row = new Float64Array(ps.length + 2);
  for (let t = 1; t < T; t++) {
    for (let d = 0; d < D; d++) {
      const y = at(t, j, d);
      row[0] = at(t - 1, j, d);
      ps.forEach((k, i) => { row[i + 1] = at(t, k, d); });
      row[ps.length + 1] = 1;
      if (Number.isFinite(y) && row.every(Number.isFinite)) fn(row, y);
    }
  }
}

/**
 * The ridge fit with `parentRidge` on the parents (Infinity: parents held at 0); an own lag above 1
 * would predict an explosion from a trending window, so it is then held at exactly 1.
 */
function fitOne(ne: NormalEquations, nParents: number, parentRidge: number): Float64Array {
  const drop = !Number.isFinite(parentRidge);
  const penalty = new Float64Array(nParents + 2); // the intercept (last) is not penalised
  penalty[0] = RIDGE * ne.n;
  const fixed = new Map<number, number>();
  for (let i = 1; i <= nParents; i++) {
    if (drop) fixed.set(i, 0);
    else penalty[i] = parentRidge * ne.n;
  }
  let beta = solvePenalised(ne, penalty, fixed)!;
  if (beta[0] > 1) {
    fixed.set(0, 1);
    beta = solvePenalised(ne, penalty, fixed)!;
  }
  return beta;
}
