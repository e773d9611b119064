// Training and batch-scoring throughput at the sizes, stateful beside windowed.
import { tf } from '../src/flow/tf.ts';
import { GanfModel, disposeState } from '../src/flow/ganf.ts';
import { chunkTensor, type Series } from '../src/flow/chunks.ts';
import { scoreSeries } from '../src/scoring/batch-score.ts';
import { acyclicity } from '../src/dag-learning/acyclicity.ts';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function randomSeries(T: number, K: number): Series {
  const data = new Float32Array(T * K);
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.37) + Math.cos(i * 0.11);
  return { data, steps: T, sensors: K, features: 1 };
}

function trainStepMs(m: GanfModel, s: Series, B: number, L: number, burnIn: number, reps: number): number {
  const opt: tf.Optimizer = tf.train.adam(1e-3);
  const vars = m.store.trainable();
  const times: number[] = [];
  for (let r = 0; r < reps + 1; r++) {
    const t0 = performance.now();
    const starts = Array.from({ length: B }, (_, b) => (b * 37) % (s.steps - burnIn - L));
    let state = m.zeroState(B);
    if (burnIn > 0) {
      const w = chunkTensor(s, starts, burnIn);
      const next = m.advance(w, state);
      w.dispose(); disposeState(state); state = next;
    }
    const x = chunkTensor(s, starts.map((v) => v + burnIn), L);
    const { value, grads } = tf.variableGrads(() => {
      const out = m.forward(x, state);
      return tf.add(tf.neg(tf.mean(out.logProb)), acyclicity(m.adjacency as tf.Tensor2D)) as tf.Scalar;
    }, vars);
    const g: Record<string, tf.Tensor> = grads;
    opt.applyGradients(g as tf.NamedTensorMap);
    value.dataSync();
    tf.dispose([value, x, ...Object.values(grads)]);
    disposeState(state);
    if (r > 0) times.push(performance.now() - t0); // first run warms up kernels
  }
  opt.dispose();
  return median(times);
}

export async function throughput(): Promise<{ rows: unknown[]; markdown: string[] }> {
  const rows: Record<string, unknown>[] = [];
  const L = 60, H = 32, B = 64;
  for (const K of [20, 200]) {
    const m = new GanfModel({ sensors: K, features: 1, hidden: H, condition: H, flowHidden: 32, flowBlocks: 1, transform: 'sinh-arcsinh' }, 1);
    const s = randomSeries(4000, K);
    const reps = K === 20 ? 7 : 3;
    const batch = K === 20 ? B : 16;
    const windowedMs = trainStepMs(m, s, batch, L, 0, reps);
    const statefulMs = trainStepMs(m, s, batch, L, L, reps);
    const A = m.adjacency as tf.Tensor2D;
    const T = K === 20 ? 2000 : 400;
    const scoreS = { steps: T, sensors: K, features: 1, data: s.data.subarray(0, T * K) };
    const timeScore = (encoder: 'stateful' | 'windowed') => {
      const ts: number[] = [];
      for (let r = 0; r < 3; r++) {
        const t0 = performance.now();
        scoreSeries(m, scoreS, { encoder, window: L, adjacency: A, batchSize: B });
        ts.push(performance.now() - t0);
      }
      return median(ts);
    };
    const stScore = timeScore('stateful');
    const wiScore = timeScore('windowed');
    rows.push({
      K, L, H, batch,
      trainWindowsPerSecWindowed: (batch / windowedMs) * 1000,
      trainWindowsPerSecStateful: (batch / statefulMs) * 1000,
      scoreStepsPerSecStateful: (T / stScore) * 1000,
      scoreWindowsPerSecWindowed: (T / wiScore) * 1000,
      memoryRssMb: process.memoryUsage().rss / 2 ** 20,
    });
    m.dispose();
  }
  const f = (v: unknown) => (typeof v === 'number' ? v.toFixed(0) : String(v));
  const markdown = [
    '| K | L | H | batch | train windows/s (windowed) | train windows/s (stateful, burn-in L) | score steps/s (stateful) | score windows/s (windowed) | RSS MB |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.K} | ${r.L} | ${r.H} | ${r.batch} | ${f(r.trainWindowsPerSecWindowed)} | ${f(r.trainWindowsPerSecStateful)} | ${f(r.scoreStepsPerSecStateful)} | ${f(r.scoreWindowsPerSecWindowed)} | ${f(r.memoryRssMb)} |`),
  ];
  return { rows, markdown };
}
