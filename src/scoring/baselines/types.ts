// What every baseline returns (PyOD style: higher = more anomalous), so the harness and the metric
// code treat them and GANF alike.
export interface BaselineScores {
  /** Per step, higher = more anomalous. */
  scores: Float64Array;
  /** T*K per-sensor contributions in `sensors` order, or null for a method with no per-sensor view. */
  perSensor: Float32Array | null;
  sensors: string[];
}
