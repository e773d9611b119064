// Seeded pseudo-random numbers for the synthetic fixtures. Everything the generators draw comes
// from here, so a seed fully determines the output (no Math.random anywhere in src/fixtures).
//
// Generator: xoshiro128** (Blackman & Vigna), state seeded through splitmix32. Independent
// sub-streams are derived with `fork(label)`, which hashes (seed, label) rather than consuming
// draws from the parent, so adding draws to one part of a generator does not shift the others.

/** 32-bit FNV-1a over the UTF-16 code units of a string, followed by a murmur3 finaliser. */
export function hashString(s: string, h = 0x811c9dc5): number {
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return fmix32(h);
}

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Combine a numeric seed and labels into a new 32-bit seed. */
export function deriveSeed(seed: number, ...labels: (string | number)[]): number {
  let h = fmix32((seed >>> 0) ^ 0x9e3779b9);
  for (const l of labels) h = hashString(`/${l}`, h);
  return h >>> 0;
}

export class Rng {
  readonly seed: number;
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spare: number | undefined;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new Error(`Rng: seed must be a finite number, got ${seed}`);
    this.seed = Math.floor(seed) >>> 0;
    // splitmix32 to spread the seed over the 128-bit state (never all zero).
    let x = this.seed;
    const next = (): number => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1;
  }

  /** Independent stream keyed by (this.seed, label); does not advance this stream. */
  fork(...labels: (string | number)[]): Rng {
    return new Rng(deriveSeed(this.seed, ...labels));
  }

  /** Next raw 32-bit unsigned integer (xoshiro128**). */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 bits of resolution. */
  next(): number {
    const hi = this.nextU32() >>> 5; // 27 bits
    const lo = this.nextU32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Uniform in [lo, hi). */
  uniform(lo = 0, hi = 1): number {
    return lo + (hi - lo) * this.next();
  }

  /** Integer uniform in [lo, hi) (hi exclusive). */
  int(lo: number, hi: number): number {
    if (!(hi > lo)) throw new Error(`Rng.int: empty range [${lo}, ${hi})`);
    return lo + Math.floor(this.next() * (hi - lo));
  }

  /** Normal via Box-Muller (the second variate of each pair is cached). */
  normal(mean = 0, sd = 1): number {
    let z: number;
    if (this.spare !== undefined) {
      z = this.spare;
      this.spare = undefined;
    } else {
      const u1 = 1 - this.next(); // (0, 1]
      const u2 = this.next();
      const r = Math.sqrt(-2 * Math.log(u1));
      z = r * Math.cos(2 * Math.PI * u2);
      this.spare = r * Math.sin(2 * Math.PI * u2);
    }
    return mean + sd * z;
  }

  /** +1 or -1 with equal probability. */
  sign(): number {
    return this.next() < 0.5 ? -1 : 1;
  }

  bernoulli(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('Rng.pick: empty array');
    return items[this.int(0, items.length)];
  }

  /** Shuffled copy (Fisher-Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(0, i + 1);
      const tmp = out[i];
      out[i] = out[j];
      out[j] = tmp;
    }
    return out;
  }

  /** Array of n i.i.d. normals. */
  normals(n: number, mean = 0, sd = 1): Float64Array {
    const out = new Float64Array(n);
    for (let i = 0; i < n; i++) out[i] = this.normal(mean, sd);
    return out;
  }

  /**
   * Stationary AR(1) series x_t = phi x_{t-1} + e_t scaled to marginal standard deviation `sd`
   * (x_0 drawn from the stationary distribution).
   */
  ar1(n: number, phi: number, sd: number): Float64Array {
    if (!(Math.abs(phi) < 1)) throw new Error(`Rng.ar1: |phi| must be < 1, got ${phi}`);
    const out = new Float64Array(n);
    const innov = sd * Math.sqrt(1 - phi * phi);
    let x = this.normal(0, sd);
    for (let i = 0; i < n; i++) {
      if (i > 0) x = phi * x + this.normal(0, innov);
      out[i] = x;
    }
    return out;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** A plain `() => number` uniform in [0, 1) for code that only needs draws, not the full Rng. */
export function seededUniform(seed: number): () => number {
  const r = new Rng(seed);
  return () => r.next();
}
