// From per-sensor window NLL to one anomaly score per step.
// - top-k (default): the mean of the k largest calibrated per-sensor surprises (k = model.scoreTopK,
//   default ceil(sqrt(K))). An incident that moves several sensors scores like a sum over them,
//   while a single-sensor fault is not diluted by the noise of K - k quiet sensors (a plain sum's
//   noise grows like sqrt(K), one faulty sensor adds a fixed amount).
// - max-sensor: the largest calibrated surprise (k = 1).
// - joint: the raw joint window NLL -log p(x) = sum_j -log p(x_j | parents), the paper's score;
//   kept for comparison: its scale is set by the noisiest sensors and its tail by the flow's.

export type ScoreAggregate = 'top-k' | 'max-sensor' | 'joint';

export interface AggregateSpec {
  mode: ScoreAggregate;
  /** Sensors averaged by top-k (ignored otherwise). */
  k: number;
}

export function topKDefault(K: number): number {
  return Math.max(1, Math.ceil(Math.sqrt(K)));
}

/** The aggregate a model config asks for, with top-k's default k resolved for K sensors. */
export function aggregateSpecOf(model: { scoreAggregate: ScoreAggregate; scoreTopK?: number }, K: number): AggregateSpec {
  return { mode: model.scoreAggregate, k: model.scoreTopK ?? topKDefault(K) };
}

/**
 * One step's score from its K window NLLs (for joint) and their calibrated surprises (computed once
 * by the caller, who also reports them) starting at `offset`.
 */
export function aggregateRow(perSensor: ArrayLike<number>, surprise: ArrayLike<number>, offset: number, K: number, spec: AggregateSpec, scratch: Float64Array = new Float64Array(K)): number {
  if (spec.mode === 'joint') {
    let s = 0;
    for (let k = 0; k < K; k++) s += perSensor[offset + k];
    return s;
  }
  const k = spec.mode === 'max-sensor' ? 1 : Math.min(Math.max(1, spec.k), K);
  if (k === 1) {
    let m = -Infinity;
    for (let j = 0; j < K; j++) m = Math.max(m, surprise[offset + j]);
    return m;
  }
  for (let j = 0; j < K; j++) scratch[j] = surprise[offset + j];
  const top = scratch.subarray(0, K).sort();
  let s = 0;
  for (let j = K - k; j < K; j++) s += top[j];
  return s / k;
}
