// Dense Cholesky factorisation and ridge least squares: the DC power flow of the grid fixture,
// the fixtures' neighbour regressions and the model's linear mean all solve small symmetric
// positive definite systems.

/** Dense Cholesky factor L (row-major n x n, lower triangle) of a symmetric positive definite A. */
export function cholesky(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
      if (i === j) {
        if (!(s > 1e-12)) throw new RangeError('cholesky: matrix is not positive definite');
        l[i * n + i] = Math.sqrt(s);
      } else {
        l[i * n + j] = s / l[j * n + j];
      }
    }
  }
  return l;
}

/** Solves L L^T x = b given the Cholesky factor. */
export function choleskySolve(l: Float64Array, n: number, b: ArrayLike<number>, out: Float64Array = new Float64Array(n)): Float64Array {
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= l[i * n + k] * out[k];
    out[i] = s / l[i * n + i];
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = out[i];
    for (let k = i + 1; k < n; k++) s -= l[k * n + i] * out[k];
    out[i] = s / l[i * n + i];
  }
  return out;
}

/**
 * Ridge least squares over the rows `each` hands out: minimises sum (y - row . beta)^2 +
 * ridge * n * sum_{i != intercept} beta_i^2, where n is the number of rows (so `ridge` is relative
 * to the data's second moment). Undefined with fewer rows than columns.
 */
export function ridgeLeastSquares(
  columns: number, each: (fn: (row: ArrayLike<number>, y: number) => void) => void, ridge: number, intercept: number,
): Float64Array | undefined {
  const xtx = new Float64Array(columns * columns);
  const xty = new Float64Array(columns);
  let n = 0;
  each((row, y) => {
    n++;
    for (let a = 0; a < columns; a++) {
      xty[a] += row[a] * y;
      for (let b = 0; b < columns; b++) xtx[a * columns + b] += row[a] * row[b];
    }
  });
  if (n < columns) return undefined;
  for (let a = 0; a < columns; a++) if (a !== intercept) xtx[a * columns + a] += ridge * n;
  return choleskySolve(cholesky(xtx, columns), columns, xty);
}
