// Conditional masked autoregressive flow over the D features of one sensor at one time step.
//
// Each block maps x -> z with parameters for feature d computed from x_{<d} and the condition c
// only (MADE masks). With D = 1 no x reaches any parameter, which is what makes it a valid
// density: the published GANF code's D = 1 masks are all ones, so its shift can copy x.
// Transform per feature: affine, or affine followed by sinh-arcsinh (monotone, with its own
// skew and tail weight) so heavy-tailed or skewed conditionals get a real density.
import { tf } from './tf.ts';
import type { ParamStore } from './params.ts';

export type FlowTransform = 'affine' | 'sinh-arcsinh';

export interface FlowShape {
  features: number; // D
  condition: number; // C
  hidden: number;
  blocks: number;
  transform: FlowTransform;
}

const LOG_2PI = Math.log(2 * Math.PI);
const MAX_LOG_SCALE = 6;
const MAX_LOG_TAIL = 2.5;

/** MADE degrees: inputs 1..D, hidden 0..D-1 (degree 0 units see only c), outputs 1..D. */
export function madeMasks(features: number, hidden: number): { inputMask: Float32Array; outputMask: Float32Array } {
  const hiddenDeg = Array.from({ length: hidden }, (_, i) => i % features);
  const inputMask = new Float32Array(features * hidden);
  for (let d = 0; d < features; d++) for (let h = 0; h < hidden; h++) inputMask[d * hidden + h] = hiddenDeg[h] >= d + 1 ? 1 : 0;
  const outputMask = new Float32Array(hidden * features);
  for (let h = 0; h < hidden; h++) for (let d = 0; d < features; d++) outputMask[h * features + d] = d + 1 > hiddenDeg[h] ? 1 : 0;
  return { inputMask, outputMask };
}

function paramsPerFeature(t: FlowTransform): number {
  return t === 'affine' ? 2 : 4;
}

interface Block {
  w1: tf.Variable; wc: tf.Variable; b1: tf.Variable;
  w2: tf.Variable; wco: tf.Variable; b2: tf.Variable;
}

export class ConditionalMAF {
  readonly shape: FlowShape;
  private readonly blocks: Block[] = [];
  private readonly inMask: tf.Tensor2D;
  private readonly outMask: tf.Tensor2D; // [hidden, D*P], outputs grouped by parameter then feature
  private readonly xReachesParams: boolean;

  constructor(store: ParamStore, prefix: string, shape: FlowShape) {
    this.shape = shape;
    const { features: D, condition: C, hidden: Hf, blocks, transform } = shape;
    const P = paramsPerFeature(transform);
    const masks = madeMasks(D, Hf);
    this.xReachesParams = masks.inputMask.some((v) => v > 0);
    this.inMask = tf.tensor2d(masks.inputMask, [D, Hf]);
    const om = new Float32Array(Hf * D * P);
    for (let h = 0; h < Hf; h++) for (let p = 0; p < P; p++) for (let d = 0; d < D; d++) om[h * D * P + p * D + d] = masks.outputMask[h * D + d];
    this.outMask = tf.tensor2d(om, [Hf, D * P]);
    for (let b = 0; b < blocks; b++) {
      const n = `${prefix}.block${b}`;
      this.blocks.push({
        w1: store.create(`${n}.w1`, [D, Hf]),
        wc: store.create(`${n}.wc`, [C, Hf]),
        b1: store.create(`${n}.b1`, [Hf], 'zeros'),
        // Small output weights start every block near the identity map.
        w2: store.create(`${n}.w2`, [Hf, D * P], (s) => tf.randomUniform(s, -1e-2, 1e-2, 'float32', 7 + b)),
        wco: store.create(`${n}.wco`, [C, D * P], (s) => tf.randomUniform(s, -1e-2, 1e-2, 'float32', 11 + b)),
        b2: store.create(`${n}.b2`, [D * P], 'zeros'),
      });
    }
  }

  /** log p(x | c) for rows x [N, D], c [N, C] -> [N]. */
  logProb(x: tf.Tensor2D, c: tf.Tensor2D): tf.Tensor1D {
    return tf.tidy(() => {
      const { z, logDet } = this.transform(x, c);
      const base = tf.mul(-0.5, tf.add(tf.sum(tf.square(z), 1), this.shape.features * LOG_2PI));
      return tf.add(base, logDet) as tf.Tensor1D;
    });
  }

  /** x -> z and log|det dz/dx| per row. */
  transform(x: tf.Tensor2D, c: tf.Tensor2D): { z: tf.Tensor2D; logDet: tf.Tensor1D } {
    return tf.tidy(() => {
      const D = this.shape.features;
      let z: tf.Tensor2D = x;
      let logDet: tf.Tensor = tf.zeros([x.shape[0]]);
      this.blocks.forEach((blk, i) => {
        const { shift, logScale, skew, logTail } = this.blockParams(blk, z, c);
        let u: tf.Tensor = tf.mul(tf.sub(z, shift), tf.exp(tf.neg(logScale)));
        let ld = tf.neg(logScale);
        if (skew && logTail) {
          const tail = tf.exp(logTail);
          const inner = tf.sub(tf.mul(tail, tf.asinh(u)), skew);
          ld = tf.add(ld, tf.sub(tf.add(logTail, logCosh(inner)), tf.mul(0.5, tf.log1p(tf.square(u)))));
          u = tf.sinh(inner);
        }
        logDet = tf.add(logDet, tf.sum(ld, 1));
        // Alternate the autoregressive order between blocks.
        z = (D > 1 && i < this.blocks.length - 1 ? tf.reverse(u, 1) : u) as tf.Tensor2D;
      });
      return { z, logDet: logDet as tf.Tensor1D };
    });
  }

  /**
   * z -> x, the inverse of `transform` for rows z [N, D] under conditions c [N, C]. At z = 0 it is
   * the flow's conditional median point: for D = 1 every block is increasing in x, so x(0) is
   * exactly the median of p(x | c) (the base density's median is 0). Feature d's parameters depend
   * on the block input's features < d only, so D passes per block recover the input feature by
   * feature (one pass when no feature reaches the parameters, e.g. D = 1).
   */
  inverse(z: tf.Tensor2D, c: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const D = this.shape.features;
      const passes = this.xReachesParams ? D : 1;
      let u: tf.Tensor2D = z;
      for (let i = this.blocks.length - 1; i >= 0; i--) {
        const out = (D > 1 && i < this.blocks.length - 1 ? tf.reverse(u, 1) : u) as tf.Tensor2D;
        // The affine part's input: undo the sinh-arcsinh first when there is one.
        let y: tf.Tensor2D = tf.zerosLike(out);
        for (let p = 0; p < passes; p++) {
          const { shift, logScale, skew, logTail } = this.blockParams(this.blocks[i], y, c);
          const a = skew && logTail ? tf.sinh(tf.div(tf.add(tf.asinh(out), skew), tf.exp(logTail))) : out;
          y = tf.add(tf.mul(a, tf.exp(logScale)), shift) as tf.Tensor2D;
          // Only features 0..p are right after pass p; the rest are reset to 0 (a wrong one may be
          // infinite, and infinity times a masked-out weight is NaN in the next pass's matMul).
          if (p < passes - 1) {
            const known = tf.tile(tf.tensor2d(Array.from({ length: D }, (_, d) => d <= p), [1, D], 'bool'), [y.shape[0], 1]);
            y = tf.where(known, y, tf.zerosLike(y)) as tf.Tensor2D;
          }
        }
        u = y;
      }
      return u;
    });
  }

  /** One block's per-feature parameters from its input z (features < d reach feature d's) and c. */
  private blockParams(blk: Block, z: tf.Tensor2D, c: tf.Tensor2D): { shift: tf.Tensor2D; logScale: tf.Tensor; skew?: tf.Tensor2D; logTail?: tf.Tensor } {
    const P = paramsPerFeature(this.shape.transform);
    // Fused matMul+bias(+relu) kernels: fewer, larger ops are what make this fast on every backend.
    const hidden = this.xReachesParams
      ? tf.relu(tf.add(tf.add(tf.matMul(c, blk.wc), blk.b1), tf.matMul(z, tf.mul(blk.w1, this.inMask))))
      : tf.fused.matMul({ a: c, b: blk.wc, bias: blk.b1, activation: 'relu' });
    const params = tf.add(tf.fused.matMul({ a: hidden as tf.Tensor2D, b: tf.mul(blk.w2, this.outMask) as tf.Tensor2D, bias: blk.b2 }), tf.matMul(c, blk.wco));
    const parts = tf.split(params, P, 1) as tf.Tensor2D[];
    const logScale = tf.mul(MAX_LOG_SCALE, tf.tanh(tf.div(parts[1], MAX_LOG_SCALE)));
    if (this.shape.transform !== 'sinh-arcsinh') return { shift: parts[0], logScale };
    return { shift: parts[0], logScale, skew: parts[2], logTail: tf.mul(MAX_LOG_TAIL, tf.tanh(tf.div(parts[3], MAX_LOG_TAIL))) };
  }

  dispose(): void {
    this.inMask.dispose();
    this.outMask.dispose();
  }
}

/** log cosh(y) = |y| + log1p(exp(-2|y|)) - log 2, stable for large |y|. */
function logCosh(y: tf.Tensor): tf.Tensor {
  const a = tf.abs(y);
  return tf.sub(tf.add(a, tf.log1p(tf.exp(tf.mul(-2, a)))), Math.LN2);
}
