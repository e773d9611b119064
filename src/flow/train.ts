// Training: Adam with decoupled weight decay and global-norm clipping, augmented-Lagrangian
// acyclicity on the learned adjacency, early stopping on validation NLL.
//
// Phase 1 learns the graph jointly with the density (NOTEARS-style). Phase 2 freezes the
// extracted DAG's weights and fine-tunes the rest, so the model we score with is conditioned on
// a true DAG and its density factorises as prod_j p(x_j | parents(j)).
import { tf } from './tf.ts';
import { GanfModel, disposeState, offDiagonal, type GanfShape } from './ganf.ts';
import { chunkTensor, type Series } from './chunks.ts';
import { fitLinearMean, type LinearMean } from './linear-mean.ts';
import { seriesNll } from './nll.ts';
import { acyclicity } from '../dag-learning/acyclicity.ts';
import { initialLagrangian, update as updateLagrangian, type LagrangianState } from '../dag-learning/lagrangian.ts';
import { extractDag, adjacencyFromGraph, type DagGraph } from '../dag-learning/extract.ts';
import type { DagConfig, ModelConfig, TrainConfig } from '../config.ts';
import { seededUniform } from '../util/rng.ts';
import { ProgressLine } from '../util/progress.ts';

export interface TrainInput {
  train: Series;
  validation: Series;
  sensors: string[];
  model: ModelConfig;
  train_: TrainConfig & { maxSteps: number };
  dag: DagConfig;
  /** Allowed parent->child pairs (K*K, 1 = allowed); from a prior topology. */
  priorMask?: Float32Array;
  /** Initial adjacency weights (K*K). */
  priorInit?: Float32Array;
}

export interface TrainHistoryPoint {
  step: number;
  phase: 'graph' | 'finetune';
  trainNll: number;
  validationNll?: number;
  h?: number;
  rho?: number;
}

export interface TrainResult {
  model: GanfModel;
  graph: DagGraph;
  /** Continuous learned weights before extraction, row = parent, column = child. */
  learnedWeights: number[][];
  /** Weights of the extracted DAG used for scoring, K*K. */
  dagWeights: Float32Array;
  history: TrainHistoryPoint[];
  steps: number;
  bestValidationNll: number;
  seconds: number;
  windowsPerSecond: number;
  lagrangian?: LagrangianState;
  /** The least-squares linear mean fitted on the DAG (absent when training ended in the graph phase). */
  linearMean?: LinearMean;
}

/**
 * Never trained: the linear mean stays where least squares puts it (fitLinearMean), else the
 * recurrent path absorbs part of it in range and the model stops extrapolating; the encoder's
 * range is the training data's.
 */
const FROZEN = new Set(['lin.w', 'lin.a', 'lin.b', 'lin.s', 'enc.lo', 'enc.hi']);
const FROZEN_WITH_GRAPH = new Set([...FROZEN, 'dag.A']);

export function shapeFor(K: number, D: number, m: ModelConfig): GanfShape {
  return { sensors: K, features: D, hidden: m.hidden, condition: m.condition, flowHidden: m.flowHidden, flowBlocks: m.flowBlocks, transform: m.transform };
}

export async function train(input: TrainInput, warmStart?: GanfModel): Promise<TrainResult> {
  const { train: data, validation, sensors, model: mc, train_: tc, dag: dc } = input;
  const K = data.sensors;
  const D = data.features;
  const L = mc.window;
  const burnIn = mc.encoder === 'stateful' ? (tc.burnIn ?? L) : 0;
  if (data.steps < burnIn + L + 1) throw new Error(`training data has ${data.steps} steps; needs more than burn-in + window = ${burnIn + L}`);
  const model = new GanfModel(shapeFor(K, D, mc), tc.seed);
  if (warmStart) model.store.restore(warmStart.store.snapshot());
  const rand = seededUniform(tc.seed);

  const mask = tf.tidy(() => {
    const base = offDiagonal(K);
    return input.priorMask ? tf.mul(base, tf.tensor2d(input.priorMask, [K, K])) : base;
  }) as tf.Tensor2D;
  if (input.priorInit && !warmStart) model.adjacency.assign(tf.tidy(() => tf.mul(tf.tensor2d(input.priorInit!, [K, K]), mask)));
  else model.adjacency.assign(tf.tidy(() => tf.mul(model.adjacency, mask)));
  model.setEncoderRange(...seriesRange(data));

  // tfjs's Adam keys its moments by position in the gradient list, so freezing A needs a new one.
  let optimizer = tf.train.adam(tc.learningRate);
  const progress = new ProgressLine(tc.maxSteps);
  const history: TrainHistoryPoint[] = [];
  const started = performance.now();
  let lag: LagrangianState | undefined = dc.learn ? initialLagrangian(dc) : undefined;
  let graphFrozen = !dc.learn;
  let dagWeights: Float32Array | undefined;
  let learnedWeights: number[][] = toMatrix(model.adjacency.dataSync() as Float32Array, K);
  let graph: DagGraph | undefined;
  let linearMean: LinearMean | undefined;
  if (graphFrozen) ({ graph, dagWeights } = freezeGraph(true));

  let best = Infinity;
  let bestWeights: Map<string, Float32Array> | undefined;
  let sinceBest = 0;
  let lastH = NaN;
  let windows = 0;
  let step = 0;
  const batch = Math.min(tc.batchSize, Math.max(1, data.steps - burnIn - L));
  const graphSteps = Math.floor(tc.maxSteps * tc.dagStepsFraction);

  /**
   * Extracts the DAG from A and freezes it; with `fitMean`, fits the linear mean on it, which the
   * fine-tuning that follows trains the flow's residual model under (the graph phase learns the
   * graph as the plain recurrent model, so the graph does not depend on the linear mean).
   */
  function freezeGraph(fitMean: boolean): { graph: DagGraph; dagWeights: Float32Array } {
    const weights = model.adjacency.dataSync() as Float32Array;
    learnedWeights = toMatrix(weights, K);
    const max = weights.reduce((m, v) => Math.max(m, v), 0);
    // Relative threshold: the scale of A depends on the data and the L1 weight, its ranking does not.
    const g = extractDag(learnedWeights, sensors, { threshold: Math.max(dc.thresholdFraction * max, 1e-12), maxParents: dc.maxParents });
    const w = adjacencyFromGraph(g, sensors);
    model.adjacency.assign(tf.tensor2d(w, [K, K]));
    if (fitMean) {
      const parentsOf = Array.from({ length: K }, (_, j) => Array.from({ length: K }, (_, k) => k).filter((k) => w[k * K + j] > 0));
      linearMean = fitLinearMean(data, parentsOf, validation);
      model.setLinearMean(linearMean, w);
    }
    return { graph: g, dagWeights: w };
  }

  for (step = 1; step <= tc.maxSteps; step++) {
    const starts = Array.from({ length: batch }, () => Math.floor(rand() * (data.steps - burnIn - L + 1)));
    let state = model.zeroState(batch);
    if (burnIn > 0) {
      const warm = chunkTensor(data, starts, burnIn);
      const next = model.advance(warm, state);
      warm.dispose();
      disposeState(state);
      state = next;
    }
    const x = chunkTensor(data, starts.map((s) => s + burnIn), L);
    const vars = model.store.trainable(graphFrozen ? FROZEN_WITH_GRAPH : FROZEN);
    const rho = lag?.rho ?? 0;
    const alpha = lag?.alpha ?? 0;
    let nllValue = 0;
    const { value, grads } = tf.variableGrads(() => {
      const out = model.forward(x, state, model.adjacency as tf.Tensor2D);
      const nll = tf.neg(tf.mean(out.logProb));
      out.state.c.dispose(); // kept by the encoder for carrying state; not needed here
      out.state.x.dispose();
      if (graphFrozen) return nll as tf.Scalar;
      const h = acyclicity(model.adjacency as tf.Tensor2D);
      let loss = tf.add(nll, tf.add(tf.mul(0.5 * rho, tf.square(h)), tf.mul(alpha, h)));
      if (dc.l1 > 0) loss = tf.add(loss, tf.mul(dc.l1, tf.sum(model.adjacency)));
      return loss as tf.Scalar;
    }, vars);
    nllValue = value.dataSync()[0];
    if (!Number.isFinite(nllValue)) throw new Error(`training diverged at step ${step} (loss ${nllValue}); lower train.learningRate`);
    applyClipped(optimizer, grads, tc.clipNorm);
    tf.dispose([value, x]);
    tf.dispose(Object.values(grads));
    disposeState(state);
    tf.tidy(() => {
      if (tc.weightDecay > 0) for (const v of vars) if (v !== model.adjacency) v.assign(tf.mul(v, 1 - tc.learningRate * tc.weightDecay));
      if (!graphFrozen) model.adjacency.assign(tf.mul(tf.relu(model.adjacency), mask));
    });
    windows += batch;

    if (!graphFrozen && lag && step % dc.stepsPerRound === 0) {
      lastH = tf.tidy(() => acyclicity(model.adjacency as tf.Tensor2D).dataSync()[0]);
      lag = updateLagrangian(lag, lastH, dc);
    }
    if (!graphFrozen && (lag?.done || step >= graphSteps)) {
      ({ graph, dagWeights } = freezeGraph(true));
      graphFrozen = true;
      optimizer.dispose();
      optimizer = tf.train.adam(tc.learningRate);
      best = Infinity; // the frozen model is a different model; compare only among frozen ones
      sinceBest = 0;
    }

    const point: TrainHistoryPoint = { step, phase: graphFrozen ? 'finetune' : 'graph', trainNll: nllValue, h: graphFrozen ? undefined : lastH, rho: lag?.rho };
    if (step % tc.evalEvery === 0 || step === tc.maxSteps) {
      const v = validationNll(model, validation, data, mc, burnIn);
      point.validationNll = v;
      if (graphFrozen) {
        if (v < best - 1e-4) {
          best = v;
          bestWeights = model.store.snapshot();
          sinceBest = 0;
        } else if (++sinceBest >= tc.patience) {
          history.push(point);
          break;
        }
      }
    }
    history.push(point);
    progress.update(step, `nll ${(nllValue).toFixed(3)}${point.validationNll !== undefined ? ` val ${point.validationNll.toFixed(3)}` : ''}${graphFrozen ? ' [dag frozen]' : ` h ${fmt(lastH)} rho ${fmt(lag?.rho ?? 0)}`}`);
  }
  progress.done();
  if (!graphFrozen) {
    // No fine-tuning left to train the flow on residuals: no linear mean.
    ({ graph, dagWeights } = freezeGraph(false));
  }
  if (bestWeights) model.store.restore(bestWeights);
  if (!Number.isFinite(best)) best = validationNll(model, validation, data, mc, burnIn);
  optimizer.dispose();
  mask.dispose();
  const seconds = (performance.now() - started) / 1000;
  return {
    model, graph: graph!, learnedWeights, dagWeights: dagWeights!, history, steps: Math.min(step, tc.maxSteps),
    bestValidationNll: best, seconds, windowsPerSecond: windows / seconds, lagrangian: lag, linearMean,
  };
}

/** Mean per-sensor-step NLL on the validation series, with the end of training data as context. */
export function validationNll(model: GanfModel, validation: Series, trainData: Series, mc: ModelConfig, contextSteps: number): number {
  const ctxLen = Math.min(Math.max(contextSteps, mc.window), trainData.steps);
  const K = trainData.sensors;
  const D = trainData.features;
  const context: Series = { ...trainData, steps: ctxLen, data: trainData.data.subarray((trainData.steps - ctxLen) * K * D) };
  const r = seriesNll(model, validation, { encoder: mc.encoder, window: mc.window, adjacency: model.adjacency as tf.Tensor2D, context });
  let sum = 0;
  for (let i = r.contextSteps * K; i < r.nll.length; i++) sum += r.nll[i];
  return sum / (r.nll.length - r.contextSteps * K);
}

function applyClipped(opt: tf.Optimizer, grads: Record<string, tf.Tensor>, clipNorm: number): void {
  tf.tidy(() => {
    const list = Object.values(grads);
    const norm = tf.sqrt(tf.addN(list.map((g) => tf.sum(tf.square(g))))).dataSync()[0];
    const scale = norm > clipNorm ? clipNorm / norm : 1;
    const scaled: Record<string, tf.Tensor> = {};
    for (const [k, g] of Object.entries(grads)) scaled[k] = scale === 1 ? g : tf.mul(g, scale);
    opt.applyGradients(scaled as tf.NamedTensorMap);
  });
}

/** Per sensor and feature, the smallest and largest finite value of the series [K*D] each. */
function seriesRange(s: Series): [Float32Array, Float32Array] {
  const n = s.sensors * s.features;
  const lo = new Float32Array(n).fill(Infinity);
  const hi = new Float32Array(n).fill(-Infinity);
  for (let i = 0; i < s.steps * n; i++) {
    const v = s.data[i];
    if (!Number.isFinite(v)) continue;
    const j = i % n;
    if (v < lo[j]) lo[j] = v;
    if (v > hi[j]) hi[j] = v;
  }
  for (let j = 0; j < n; j++) if (lo[j] > hi[j]) [lo[j], hi[j]] = [0, 0];
  return [lo, hi];
}

function toMatrix(flat: Float32Array, K: number): number[][] {
  return Array.from({ length: K }, (_, i) => Array.from(flat.subarray(i * K, (i + 1) * K)));
}

function fmt(v: number): string {
  return Number.isFinite(v) ? v.toExponential(1) : '-';
}
