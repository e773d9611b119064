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

/** The sums least squares needs over a set of rows: X^T X, X^T y, y^T y and their count. */
export interface NormalEquations {
  columns: number;
  n: number;
  xtx: Float64Array;
  xty: Float64Array;
  yty: number;
}

export function normalEquations(columns: number, each: (fn: (row: ArrayLike<number>, y: number) => void) => void): NormalEquations {
  const xtx = new Float64Array(columns * columns);
  const xty = new Float64Array(columns);
  let yty = 0;
  let n = 0;
  each((row, y) => {
    n++;
    yty += y * y;
    for (let a = 0; a < columns; a++) {
      xty[a] += row[a] * y;
      for (let b = 0; b < columns; b++) xtx[a * columns + b] += row[a] * row[b];
    }
  });
  return { columns, n, xtx, xty, yty };
}

/**
 * Minimises sum (y - row . beta)^2 + sum_i penalty[i] beta_i^2 over the rows `ne` sums, with the
 * columns in `fixed` held at their values. Undefined with fewer rows than free columns.
 */
export function solvePenalised(ne: NormalEquations, penalty: ArrayLike<number>, fixed: ReadonlyMap<number, number> = new Map()): Float64Array | undefined {
  const { columns: c, xtx, xty } = ne;
  const free = Array.from({ length: c }, (_, i) => i).filter((i) => !fixed.has(i));
  const m = free.length;
  const beta = new Float64Array(c);
  for (const [i, v] of fixed) beta[i] = v;
  if (m === 0) return beta;
  if (ne.n < m) return undefined;
  const a = new Float64Array(m * m);
  const b = new Float64Array(m);
  free.forEach((i, fi) => {
    b[fi] = xty[i];
    for (const [f, v] of fixed) b[fi] -= xtx[i * c + f] * v;
    free.forEach((j, fj) => { a[fi * m + fj] = xtx[i * c + j]; });
    a[fi * m + fi] += penalty[i];
  });
  const solved = choleskySolve(cholesky(a, m), m, b);
  free.forEach((i, fi) => { beta[i] = solved[fi]; });
  return beta;
}

/** Sum of squared residuals of `beta` over the rows `ne` sums (never negative). */
export function residualSumOfSquares(ne: NormalEquations, beta: ArrayLike<number>): number {
  const { columns: c, xtx, xty } = ne;
  let quad = 0;
  let cross = 0;
  for (let a = 0; a < c; a++) {
    cross += beta[a] * xty[a];
    for (let b = 0; b < c; b++) quad += beta[a] * xtx[a * c + b] * beta[b];
  }
  return Math.max(0, ne.yty - 2 * cross + quad);
}

/**
 * Ridge least squares over the rows `each` hands out: minimises sum (y - row . beta)^2 +
 * ridge * n * sum_{i != intercept} beta_i^2, where n is the number of rows (so `ridge` is relative
 * to the data's second moment). Undefined with fewer rows than columns.
 */
export function ridgeLeastSquares(
  columns: number, each: (fn: (row: ArrayLike<number>, y: number) => void) => void, ridge: number, intercept: number,
): Float64Array | undefined {
  const ne = normalEquations(columns, each);
  if (ne.n < columns) return undefined;
  return solvePenalised(ne, Array.from({ length: columns }, (_, a) => (a === intercept ? 0 : ridge * ne.n)));
}
