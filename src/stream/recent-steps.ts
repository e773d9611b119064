/**
 * The last few aligned raw steps of one site (model order, sensor units): what a newly activated
 * model version replays to warm up its recurrent state before it takes over the site (see
 * StreamProcessor.handOver). A fixed-size ring; only the current series segment is kept (a
 * restart after a gap clears it). Snapshots are exact (float64, base64).
 */
import { z } from 'zod';

export const RecentStepsSchema = z.strictObject({
  /** Steps held (at most the capacity), oldest first in `values`. */
  steps: z.number().int().min(0),
  width: z.number().int().min(1),
  /** base64 float64 [steps * width] */
  values: z.string(),
});
export type RecentStepsState = z.infer<typeof RecentStepsSchema>;

export class RecentSteps {
  private readonly ring: Float64Array;
  private count = 0;

  constructor(readonly capacity: number, readonly width: number) {
    this.ring = new Float64Array(capacity * width);
  }

  get steps(): number {
    return Math.min(this.count, this.capacity);
  }

  /** Appends n steps given as [n * width] values. */
  push(rows: Float64Array): void {
    if (this.capacity === 0) return;
    const n = rows.length / this.width;
    for (let t = Math.max(0, n - this.capacity); t < n; t++) {
      this.ring.set(rows.subarray(t * this.width, (t + 1) * this.width), (this.count % this.capacity) * this.width);
      this.count++;
    }
  }

  clear(): void {
    this.count = 0;
  }

  /** The held steps, oldest first: [steps * width]. */
  rows(): Float64Array {
    const n = this.steps;
    const out = new Float64Array(n * this.width);
    for (let i = 0; i < n; i++) {
      const slot = (this.count - n + i) % this.capacity;
      out.set(this.ring.subarray(slot * this.width, (slot + 1) * this.width), i * this.width);
    }
    return out;
  }

  snapshot(): RecentStepsState {
    const v = this.rows();
    return { steps: this.steps, width: this.width, values: Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64') };
  }

  /** A ring of `capacity` holding the snapshot's newest steps (a snapshot of another width is refused). */
  static restore(capacity: number, width: number, raw: unknown): RecentSteps {
    const s = RecentStepsSchema.parse(raw);
    if (s.width !== width) throw new Error(`recent steps: width ${s.width}, expected ${width}`);
    const buf = Buffer.from(s.values, 'base64');
    if (buf.byteLength !== s.steps * width * 8) throw new Error(`recent steps: ${buf.byteLength / 8} values, expected ${s.steps * width}`);
    const r = new RecentSteps(capacity, width);
    r.push(new Float64Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)));
    return r;
  }
}
