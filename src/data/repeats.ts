// Exact repeats of a sensor's reading. Every real sensor has noise, so a reading that repeats for
// longer than it ever did in training says the sensor, or the link that carries it, is stuck.
// Readings are compared as float32 (what tables hold), so a stream that receives float64 values
// sees the same repeats as a batch table of them.

/** Whether sensor k's D readings at `row` equal those at `prev` (offsets of [K*D] rows in `values`). */
export function sameReading(values: ArrayLike<number>, row: number, prev: ArrayLike<number>, prevRow: number, k: number, D: number): boolean {
  for (let d = 0; d < D; d++) {
    const a = Math.fround(values[row + k * D + d]);
    if (Number.isNaN(a) || a !== Math.fround(prev[prevRow + k * D + d])) return false;
  }
  return true;
}

/**
 * Longest run of consecutive rows in which sensor k read the same values (all D features) as in
 * the row before, counted in rows: 1 = it never repeated a reading. values: [T*K*D].
 */
export function longestRepeat(values: ArrayLike<number>, T: number, K: number, D: number, k: number): number {
  let longest = T > 0 ? 1 : 0;
  let run = 1;
  for (let t = 1; t < T; t++) {
    run = sameReading(values, t * K * D, values, (t - 1) * K * D, k, D) ? run + 1 : 1;
    if (run > longest) longest = run;
  }
  return longest;
}
