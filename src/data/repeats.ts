// Exact repeats of a sensor's reading. Every real sensor has noise, so a reading that repeats for
// longer than it ever did in training says the sensor, or the link that carries it, is stuck.
// Readings are compared as float32 (what tables hold), so a stream that receives float64 values
// sees the same repeats as a batch table of them.
//
// How long a reading may repeat depends on how finely it is reported: a pressure that moves by a
// few thousandths per hour repeats for hours once a historian rounds it to hundredths (BATADAL's
// validation file is rounded to 2 decimals, its training file is not). So the longest training
// run is also counted with the training readings rounded to each of a few decimal grids, and a
// scorer uses the one its readings are reported on.

/** Decimal grids a historian may round readings to (sensor units), finest first; an index is a grid level. */
export const REPEAT_GRIDS: readonly number[] = [0.001, 0.01, 0.1, 1];

/** A reading as compared on grid g: its count of g, or its float32 value on no grid (g = 0). */
function keyOf(v: number, g: number): number {
  return g > 0 ? Math.round(Math.fround(v) / g) : Math.fround(v);
}

/**
 * Whether sensor k's D readings at `row` equal those at `prev` (offsets of [K*D] rows in
 * `values`), exactly, or after rounding both to grid g.
 */
export function sameReading(values: ArrayLike<number>, row: number, prev: ArrayLike<number>, prevRow: number, k: number, D: number, g = 0): boolean {
  for (let d = 0; d < D; d++) {
    const a = values[row + k * D + d];
    if (Number.isNaN(a) || keyOf(a, g) !== keyOf(prev[prevRow + k * D + d], g)) return false;
  }
  return true;
}

/** Whether sensor k's D readings at `row` lie on grid g (within a thousandth of a step: float32 2.98 is 297.99999 hundredths). */
export function onGrid(values: ArrayLike<number>, row: number, k: number, D: number, g: number): boolean {
  for (let d = 0; d < D; d++) {
    const q = Math.fround(values[row + k * D + d]) / g;
    if (!(Math.abs(q - Math.round(q)) <= 1e-3)) return false;
  }
  return true;
}

/**
 * Longest run of consecutive rows in which sensor k read the same values (all D features) as in
 * the row before, counted in rows, exactly or with the readings rounded to grid g: 1 = it never
 * repeated a reading. values: [T*K*D].
 */
export function longestRepeat(values: ArrayLike<number>, T: number, K: number, D: number, k: number, g = 0): number {
  let longest = T > 0 ? 1 : 0;
  let run = 1;
  for (let t = 1; t < T; t++) {
    run = sameReading(values, t * K * D, values, (t - 1) * K * D, k, D, g) ? run + 1 : 1;
    if (run > longest) longest = run;
  }
  return longest;
}
