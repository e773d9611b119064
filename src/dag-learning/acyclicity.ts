// NOTEARS acyclicity constraint h(A) = tr(exp(A∘A)) − K, and the matrix exponential it needs.
// tfjs has no expm, so it is built from matMuls (scaling and squaring around a Taylor polynomial)
// which keeps it differentiable by tf.grad and fast enough to run every optimiser step.
import { tf } from '../flow/tf.ts';

export interface ExpmOptions {
  /**
   * Number of squarings s. Default: chosen from ||M||_1 (one CPU read of the norm per call).
   * A caller that knows a bound on the norm can pass s to avoid that device→host sync.
   */
  squarings?: number;
}

// 1/k!, k = 0..12. Degree 12 on a matrix of 1-norm ≤ 1 leaves a truncation error below
// Σ_{k≥13} 1/k! ≈ 1.6e-10, far under float32 resolution, so a cheaper Padé (which would need a
// linear solve tfjs cannot differentiate) buys nothing here.
const INV_FACT = [1, 1, 1 / 2, 1 / 6, 1 / 24, 1 / 120, 1 / 720, 1 / 5040, 1 / 40320, 1 / 362880, 1 / 3628800, 1 / 39916800, 1 / 479001600];

// Scale until ||M/2^s||_1 ≤ THETA. 1 rather than 1/2: every squaring doubles the relative rounding
// error in float32, and degree 12 is already exact to float32 at norm 1.
const THETA = 1;

/** s = max(0, ceil(log2(||M||_1 / θ))), from a CPU read of the max absolute column sum. */
export function chooseSquarings(M: tf.Tensor2D): number {
  const norm = tf.tidy(() => tf.max(tf.sum(tf.abs(M), 0))).dataSync()[0] ?? 0;
  if (!Number.isFinite(norm)) throw new Error('matrixExp: input contains non-finite values');
  if (norm <= THETA) return 0;
  return Math.ceil(Math.log2(norm / THETA));
}

/**
 * exp(M) − I. Computed without ever forming I + (small) so that entries of exp(M) − I far below
 * 1 keep their float32 relative precision: h(A) = tr(exp(A∘A) − I) is then exact on a DAG (all
 * diagonal terms are products with a zero factor) and resolves tiny cycles instead of losing them
 * to cancellation against K.
 */
export function matrixExpm1(M: tf.Tensor2D, options: ExpmOptions = {}): tf.Tensor2D {
  const [rows, cols] = M.shape;
  if (rows !== cols) throw new Error(`matrixExp: matrix must be square (got ${rows}×${cols})`);
  const s = options.squarings ?? chooseSquarings(M);
  if (!Number.isInteger(s) || s < 0) throw new Error(`matrixExp: squarings must be a non-negative integer (got ${s})`);
  return tf.tidy(() => {
    const X: tf.Tensor2D = s === 0 ? M : tf.mul(M, 2 ** -s);
    let F = taylorExpm1(X);
    // (I + F)^2 − I = 2F + F·F keeps the "minus identity" form through the squarings.
    for (let i = 0; i < s; i++) F = tf.add(tf.mul(F, 2), tf.matMul(F, F));
    return F;
  });
}

/** exp(M) by scaling and squaring (matMuls only, so tf.grad differentiates through it). */
export function matrixExp(M: tf.Tensor2D, options: ExpmOptions = {}): tf.Tensor2D {
  return tf.tidy(() => tf.add(matrixExpm1(M, options), tf.eye(M.shape[0])));
}

// Degree-12 Taylor polynomial of exp(X) − I in Paterson–Stockmeyer form: 5 matMuls instead of
// the 11 of Horner's rule, which matters because this runs every step at K ≈ 250.
function taylorExpm1(X: tf.Tensor2D): tf.Tensor2D {
  const c = INV_FACT;
  const I = tf.eye(X.shape[0]);
  const X2 = tf.matMul(X, X);
  const X3 = tf.matMul(X2, X);
  const X4 = tf.matMul(X2, X2);
  const lin = (c0: number, c1: number, c2: number, c3: number): tf.Tensor2D =>
    tf.addN([tf.mul(I, c0), tf.mul(X, c1), tf.mul(X2, c2), tf.mul(X3, c3)]) as tf.Tensor2D;
  const B0 = tf.addN([tf.mul(X, c[1]), tf.mul(X2, c[2]), tf.mul(X3, c[3])]) as tf.Tensor2D;
  const B1 = lin(c[4], c[5], c[6], c[7]);
  const B2 = tf.add(lin(c[8], c[9], c[10], c[11]), tf.mul(X4, c[12])) as tf.Tensor2D;
  const inner = tf.add(B1, tf.matMul(X4, B2)) as tf.Tensor2D;
  return tf.add(B0, tf.matMul(X4, inner));
}

/**
 * h(A) = tr(exp(A∘A)) − K: zero iff the weighted graph A (row = parent, column = child) has no
 * directed cycle, positive otherwise. Only the magnitude of A matters, so A may be signed.
 *
 * The gradient is supplied in closed form, ∇h = exp(A∘A)^T ∘ 2A, instead of letting tf.grad
 * back-propagate through the ~5 + s matMuls of the exponential: that roughly triples the speed of
 * a training step and is the gradient of the exact exponential rather than of its approximation.
 * Overflows to Infinity once the spectral radius of A∘A nears ~88 (float32 exp limit); keep A
 * bounded (NOTEARS-style training does, through the penalty).
 */
export function acyclicity(A: tf.Tensor2D, options: ExpmOptions = {}): tf.Scalar {
  const [rows, cols] = A.shape;
  if (rows !== cols) throw new Error(`acyclicity: A must be square (got ${rows}×${cols})`);
  const op = tf.customGrad((a: tf.Tensor | tf.GradSaveFunc, save: tf.Tensor | tf.GradSaveFunc) => {
    const x = a as tf.Tensor2D;
    const F = matrixExpm1(tf.square(x), options);
    (save as tf.GradSaveFunc)([x, F]);
    return {
      value: tf.sum(tf.mul(F, tf.eye(rows))) as tf.Scalar,
      gradFunc: (dy: tf.Scalar, saved: tf.Tensor[]) => {
        const [xs, Fs] = saved as [tf.Tensor2D, tf.Tensor2D];
        const E = tf.add(Fs, tf.eye(rows));
        return tf.mul(tf.mul(tf.transpose(E), tf.mul(xs, 2)), dy);
      },
    };
  });
  return op(A) as tf.Scalar;
}
