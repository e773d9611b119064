// Copies windows of a time-major series [T, K, D] into the model's chunk layout [L, K, B, D]. Done on the CPU: it is a strided copy, cheaper than a gather on any backend.
import { tf } from './tf.ts';

export interface Series {
  data: Float32Array; // [T, K, D], index (t*K + k)*D + d
  steps: number; // T
  sensors: number; // K
  features: number; // D
}

export function seriesFrom(data: Float32Array, sensors: number, features: number): Series {
  const steps = data.length / (sensors * features);
  if (!Number.isInteger(steps)) throw new Error(`series length ${data.length} is not a multiple of sensors*features = ${sensors * features}`);
  return { data, steps, sensors, features };
}

/** Windows [starts[b], starts[b] + length) for each stream b -> tensor [length, K, B, D]. */
export function chunkTensor(s: Series, starts: number[], length: number): tf.Tensor4D {
  const { sensors: K, features: D } = s;
  const B = starts.length;
  const out = new Float32Array(K * length * B * D);
  for (let b = 0; b < B; b++) {
    const t0 = starts[b];
    if (t0 < 0 || t0 + length > s.steps) throw new Error(`window [${t0}, ${t0 + length}) is outside the series of ${s.steps} steps`);
    for (let l = 0; l < length; l++) {
      const src = (t0 + l) * K * D;
      for (let k = 0; k < K; k++) {
        const dst = ((l * K + k) * B + b) * D;
        for (let d = 0; d < D; d++) out[dst + d] = s.data[src + k * D + d];
      }
    }
  }
  return tf.tensor4d(out, [length, K, B, D]);
}
