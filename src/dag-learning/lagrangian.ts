// Augmented-Lagrangian schedule for the acyclicity constraint h(A) = 0 (NOTEARS, Zheng et al. 2018),
// as a pure state machine. It counts optimiser steps rather than epochs because on small data an
// epoch is a single step, and a round must be long enough for the optimiser to react to a new rho.
import { tf } from '../flow/tf.ts';

export interface LagrangianOptions {
  /** Initial quadratic penalty weight. */
  rhoInit: number;
  /** Stop raising rho here; reaching it ends the schedule (further increases only hurt conditioning). */
  rhoMax: number;
  /** Multiplier applied to rho when h did not fall fast enough. */
  rhoFactor: number;
  /**
   * The constraint counts as met once h ≤ hTol. Absolute, not relative to K: acyclicity()
   * evaluates h = tr(exp(A∘A) − I) without cancellation against K, so it is exactly 0 on a DAG
   * and float32 resolves small h. Default 1e-6 rather than NOTEARS' 1e-8: with float32 Adam the
   * weights of reverse edges jitter around 0 by ~1e-3 and h plateaus at ~1e-7..1e-6, so 1e-8 is
   * in practice only ended by rhoMax, after rho has made the loss badly conditioned. 1e-6 is
   * still far below what a cycle surviving extraction produces (a 2-cycle whose two edges both
   * exceed a threshold τ contributes ≥ τ⁴ to h: 1e-4 at τ = 0.1).
   */
  hTol: number;
  /** A round made progress when h ≤ progressFraction · h of the previous round (NOTEARS: 0.25). */
  progressFraction: number;
  /** Optimiser steps per round, i.e. between calls to update(). */
  stepsPerRound: number;
}

export interface LagrangianState {
  rho: number;
  /** Lagrange multiplier of h = 0. */
  alpha: number;
  /** h at the end of the previous round (Infinity before the first). */
  hPrev: number;
  stepsInRound: number;
  done: boolean;
}

export const DEFAULT_LAGRANGIAN: Readonly<LagrangianOptions> = Object.freeze({
  rhoInit: 1,
  rhoMax: 1e10,
  rhoFactor: 10,
  hTol: 1e-6,
  progressFraction: 0.25,
  stepsPerRound: 100,
});

export function lagrangianOptions(overrides: Partial<LagrangianOptions> = {}): LagrangianOptions {
  const o = { ...DEFAULT_LAGRANGIAN, ...overrides };
  const positive = (name: keyof LagrangianOptions) => {
    if (!(Number.isFinite(o[name]) && o[name] > 0)) throw new Error(`lagrangian: ${name} must be a positive number (got ${o[name]})`);
  };
  (['rhoInit', 'rhoMax', 'rhoFactor', 'hTol', 'progressFraction', 'stepsPerRound'] as const).forEach(positive);
  if (o.rhoFactor <= 1) throw new Error(`lagrangian: rhoFactor must exceed 1 (got ${o.rhoFactor})`);
  if (o.progressFraction >= 1) throw new Error(`lagrangian: progressFraction must be below 1 (got ${o.progressFraction})`);
  if (!Number.isInteger(o.stepsPerRound)) throw new Error(`lagrangian: stepsPerRound must be an integer (got ${o.stepsPerRound})`);
  return o;
}

export function initialLagrangian(options: LagrangianOptions = DEFAULT_LAGRANGIAN): LagrangianState {
  return { rho: options.rhoInit, alpha: 0, hPrev: Infinity, stepsInRound: 0, done: false };
}

/** Call after every optimiser step. */
export function countStep(state: LagrangianState): LagrangianState {
  return { ...state, stepsInRound: state.stepsInRound + 1 };
}

/** True when the trainer should evaluate h and call update(). */
export function roundComplete(state: LagrangianState, options: LagrangianOptions = DEFAULT_LAGRANGIAN): boolean {
  return !state.done && state.stepsInRound >= options.stepsPerRound;
}

/**
 * End of a round. rho grows only when h failed to shrink enough, so it stays as small as the
 * problem allows (a large rho makes the loss ill-conditioned); alpha then takes the dual ascent
 * step with the new rho. A NaN or infinite h throws (exp overflowed or training diverged):
 * continuing would only train on garbage.
 */
export function update(state: LagrangianState, h: number, options: LagrangianOptions = DEFAULT_LAGRANGIAN): LagrangianState {
  if (!(Number.isFinite(h) && h >= 0)) throw new Error(`lagrangian: h must be a finite non-negative number (got ${h})`);
  if (state.done) return state;
  const rho = h > options.progressFraction * state.hPrev ? Math.min(state.rho * options.rhoFactor, options.rhoMax) : state.rho;
  return {
    rho,
    alpha: state.alpha + rho * h,
    hPrev: h,
    stepsInRound: 0,
    done: h <= options.hTol || rho >= options.rhoMax,
  };
}

/** 0.5·rho·h² + alpha·h, the term the trainer adds to its loss. */
export function penalty(state: Pick<LagrangianState, 'rho' | 'alpha'>, h: number): number;
export function penalty(state: Pick<LagrangianState, 'rho' | 'alpha'>, h: tf.Scalar): tf.Scalar;
export function penalty(state: Pick<LagrangianState, 'rho' | 'alpha'>, h: number | tf.Scalar): number | tf.Scalar {
  if (typeof h === 'number') return 0.5 * state.rho * h * h + state.alpha * h;
  // Written as h·(0.5·rho·h + alpha) so the graph is two muls and an add.
  return tf.tidy(() => tf.mul(h, tf.add(tf.mul(h, 0.5 * state.rho), state.alpha)) as tf.Scalar);
}
