// Named trainable tensors with seeded initialisation, so a model is reproducible from its seed
// and can be written to / read from one flat binary blob.
import { tf } from './tf.ts';

export interface ParamSpec {
  name: string;
  shape: number[];
}

let storeCount = 0;

export class ParamStore {
  readonly vars = new Map<string, tf.Variable>();
  /** Parameters that models saved before they existed lack, with the initial value such a model gets. */
  private readonly addedLater = new Map<string, Float32Array>();
  private seed: number;
  /** tfjs variable names are global to the engine: a per-store prefix lets models coexist. */
  private readonly prefix = `ganf${++storeCount}/`;

  constructor(seed: number) {
    this.seed = seed;
  }

  /**
   * Glorot-uniform for matrices, zeros for vectors unless `init` says otherwise. `addedLater`: a
   * parameter newer than some saved models, whose initial value must reproduce how those models
   * scored without it (restore then sets it to that value when the weights lack it).
   */
  create(
    name: string, shape: number[], init: 'glorot' | 'zeros' | 'ones' | ((shape: number[]) => tf.Tensor) = 'glorot', opts: { addedLater?: boolean } = {},
  ): tf.Variable {
    if (this.vars.has(name)) throw new Error(`parameter ${name} created twice`);
    const value = tf.tidy(() => {
      if (typeof init === 'function') return init(shape);
      if (init === 'zeros') return tf.zeros(shape);
      if (init === 'ones') return tf.ones(shape);
      const fanIn = shape.length > 1 ? shape[shape.length - 2] : shape[0];
      const fanOut = shape[shape.length - 1];
      const limit = Math.sqrt(6 / (fanIn + fanOut));
      return tf.randomUniform(shape, -limit, limit, 'float32', this.seed++);
    });
    const v = tf.variable(value, true, this.prefix + name);
    if (opts.addedLater) this.addedLater.set(name, (value.dataSync() as Float32Array).slice());
    value.dispose();
    this.vars.set(name, v);
    return v;
  }

  get(name: string): tf.Variable {
    const v = this.vars.get(name);
    if (!v) throw new Error(`unknown parameter ${name}`);
    return v;
  }

  trainable(exclude: Set<string> = new Set()): tf.Variable[] {
    return [...this.vars.entries()].filter(([name]) => !exclude.has(name)).map(([, v]) => v);
  }

  specs(): ParamSpec[] {
    return [...this.vars.entries()].map(([name, v]) => ({ name, shape: v.shape }));
  }

  snapshot(): Map<string, Float32Array> {
    const out = new Map<string, Float32Array>();
    for (const [name, v] of this.vars) out.set(name, v.dataSync() as Float32Array);
    return out;
  }

  restore(values: Map<string, Float32Array>): void {
    for (const [name, v] of this.vars) {
      const data = values.get(name) ?? this.addedLater.get(name);
      if (!data) throw new Error(`weights file lacks parameter ${name}`);
      if (data.length !== v.size) throw new Error(`parameter ${name}: expected ${v.size} values, weights file has ${data.length}`);
      v.assign(tf.tensor(data, v.shape));
    }
  }

  /** One contiguous little-endian float32 blob in spec order. */
  serialise(): { specs: ParamSpec[]; blob: Buffer } {
    const specs = this.specs();
    const total = specs.reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
    const all = new Float32Array(total);
    let off = 0;
    for (const s of specs) {
      const d = this.get(s.name).dataSync();
      all.set(d, off);
      off += d.length;
    }
    return { specs, blob: Buffer.from(all.buffer, all.byteOffset, all.byteLength) };
  }

  deserialise(specs: ParamSpec[], blob: Buffer): void {
    const floats = new Float32Array(blob.buffer.slice(blob.byteOffset, blob.byteOffset + blob.byteLength));
    const values = new Map<string, Float32Array>();
    let off = 0;
    for (const s of specs) {
      const n = s.shape.reduce((a, b) => a * b, 1);
      if (off + n > floats.length) throw new Error(`weights file is truncated at parameter ${s.name}`);
      values.set(s.name, floats.slice(off, off + n));
      off += n;
    }
    if (off !== floats.length) throw new Error(`weights file has ${floats.length - off} values more than the manifest describes`);
    this.restore(values);
  }

  dispose(): void {
    for (const v of this.vars.values()) v.dispose();
    this.vars.clear();
  }
}
