// From per-sensor window NLL to one anomaly score per step.
// - joint: the sum, i.e. the joint window NLL -log p(x) = sum_j -log p(x_j | parents): the GANF
//   score, strongest when an incident moves several sensors at once.
// - max-sensor: the largest single conditional's excess over its calibration median. The sum's
//   noise grows like sqrt(K) while one faulty sensor adds a fixed amount, so in large networks a
//   single-sensor fault (stuck, dropped, spoofed) stands out more in the max.
export type ScoreAggregate = 'joint' | 'max-sensor';

export function aggregateRow(perSensor: ArrayLike<number>, offset: number, K: number, medians: ArrayLike<number>, mode: ScoreAggregate): number {
  if (mode === 'joint') {
    let s = 0;
    for (let k = 0; k < K; k++) s += perSensor[offset + k];
    return s;
  }
  let m = -Infinity;
  for (let k = 0; k < K; k++) m = Math.max(m, perSensor[offset + k] - medians[k]);
  return m;
}

export function aggregateScores(perSensor: Float32Array, K: number, medians: ArrayLike<number>, mode: ScoreAggregate): Float32Array {
  const T = perSensor.length / K;
  const out = new Float32Array(T);
  for (let t = 0; t < T; t++) out[t] = aggregateRow(perSensor, t * K, K, medians, mode);
  return out;
}
