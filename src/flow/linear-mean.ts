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
import { ridgeLeastSquares } from '../util/least-squares.ts';

export interface LinearMean {
  /** Coefficient of each sensor's own previous reading [K]. */
  own: Float64Array;
  /** Intercept per sensor [K]. */
  bias: Float64Array;
  /** RMS of the residual per sensor [K] (standardised units, at least MIN_SCALE). */
  scale: Float64Array;
  /** Coefficient of parent k's current reading in child j's mean, [K*K] at k*K + j (0 off the graph). */
  parents: Float64Array;
}

/** Ridge strength relative to the number of rows (standardised inputs: about 1e-3 of a unit variance). */
const RIDGE = 1e-3;
/** Smallest residual scale: 1e-3 of the sensor's standard deviation. */
const MIN_SCALE = 1e-3;

/**
 * Fits every sensor's linear mean on `s`; `parentsOf[j]` lists j's parents (empty: own lag only).
 * Features of one sensor share the coefficients (stacked rows), as the model shares them.
 */
export function fitLinearMean(s: Series, parentsOf: readonly (readonly number[])[]): LinearMean {
  const { sensors: K, features: D, steps: T, data } = s;
  if (parentsOf.length !== K) throw new RangeError(`fitLinearMean: parents for ${parentsOf.length} sensors, series has ${K}`);
  const own = new Float64Array(K);
  const bias = new Float64Array(K);
  const parents = new Float64Array(K * K);
  const at = (t: number, k: number, d: number) => data[(t * K + k) * D + d];
  const scale = new Float64Array(K).fill(1);
  for (let j = 0; j < K; j++) {
    const ps = parentsOf[j];
    const rows = (fn: (row: Float64Array, y: number) => void, ownFixed?: number) => {
      const row = new Float64Array(ps.length + (ownFixed === undefined ? 2 : 1));
      for (let t = 1; t < T; t++) {
        for (let d = 0; d < D; d++) {
          let y = at(t, j, d);
          const lag = at(t - 1, j, d);
          let i = 0;
          if (ownFixed === undefined) row[i++] = lag;
          else y -= ownFixed * lag;
          for (const k of ps) row[i++] = at(t, k, d);
          row[i] = 1;
          if (Number.isFinite(y) && row.every(Number.isFinite)) fn(row, y);
        }
      }
    };
    const P = ps.length + 2; // own lag, parents, intercept (last)
    let beta = ridgeLeastSquares(P, rows, RIDGE, P - 1);
    if (beta && beta[0] > 1) {
      const rest = ridgeLeastSquares(P - 1, (fn) => rows(fn, 1), RIDGE, P - 2);
      beta = rest && Float64Array.from([1, ...rest]);
    }
    if (!beta) continue; // too short to say anything: no linear mean
    const full = beta;
    own[j] = full[0];
    ps.forEach((k, i) => { parents[k * K + j] = full[i + 1]; });
    bias[j] = full[full.length - 1];
    let ss = 0;
    let n = 0;
    rows((row, y) => {
      let pred = 0;
      for (let i = 0; i < row.length; i++) pred += full[i] * row[i];
      ss += (y - pred) ** 2;
      n++;
    });
    scale[j] = Math.max(Math.sqrt(ss / n), MIN_SCALE);
  }
  return { own, bias, parents, scale };
}
