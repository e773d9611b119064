// Every setting of train / score / backtest, validated once at the edge. Config files (JSON) and
// command-line flags both land here; errors name the offending field.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve as resolvePath } from 'node:path';
import { z } from 'zod';
import { CsvOptionsSchema, DEFAULT_PLAUSIBLE_MARGIN, MissingPolicySchema } from './data/options.ts';

/** CSV options plus the missing-value policy; one schema each, in src/data/options.ts. */
export const DataConfigSchema = CsvOptionsSchema.extend({
  missing: MissingPolicySchema.prefault({}),
  /**
   * Plausible range per sensor: the training range widened by this fraction of itself on each
   * side. A reading outside it is implausible: clipped to the range before it reaches the model
   * (so one glitch cannot poison the carried encoder state) and reported.
   */
  plausibleMargin: z.number().min(0).default(DEFAULT_PLAUSIBLE_MARGIN),
});

export const ModelConfigSchema = z.object({
  /** Truncated-BPTT chunk length (and burn-in) in steps. */
  window: z.number().int().min(2).default(24),
  hidden: z.number().int().min(2).default(32),
  condition: z.number().int().min(2).default(32),
  flowHidden: z.number().int().min(2).default(32),
  flowBlocks: z.number().int().min(1).default(1),
  transform: z.enum(['affine', 'sinh-arcsinh']).default('sinh-arcsinh'),
  /**
   * The score of step t is the joint NLL of the last `scoreWindow` steps (mean per step): the
   * window log-density GANF scores, computed causally. 1 = the single step's NLL.
   */
  scoreWindow: z.number().int().min(1).default(6),
  /**
   * How per-sensor NLLs become one score (src/scoring/aggregate.ts): top-k, the mean of the k
   * largest calibrated per-sensor surprises; max-sensor, the largest; joint, the raw joint NLL.
   * Changeable on a trained model without retraining (`ganf recalibrate`).
   */
  scoreAggregate: z.enum(['top-k', 'max-sensor', 'joint']).default('top-k'),
  /** k of top-k; default ceil(sqrt(K)). */
  scoreTopK: z.number().int().min(1).optional(),
  /**
   * Steps per bucket of the drift-tolerant surprise baseline (src/scoring/surprise-baseline.ts;
   * the median of the last 28 bucket medians). Default, written into the model at fit: a quarter
   * of a day at the training data's median sampling interval, at least 6 steps.
   */
  baselineBucketSteps: z.number().int().min(1).optional(),
  /** stateful: the encoder runs through the whole series (O(1) per new step); windowed: reset at every window start. */
  encoder: z.enum(['stateful', 'windowed']).default('stateful'),
}).strict();

export const TrainConfigSchema = z.object({
  seed: z.number().int().default(42),
  batchSize: z.number().int().min(1).default(32),
  learningRate: z.number().positive().default(2e-3),
  weightDecay: z.number().min(0).default(1e-4),
  clipNorm: z.number().positive().default(5),
  /** Optimiser steps; default from the data size (src/flow/budget.ts), so small files train in seconds. */
  maxSteps: z.number().int().min(1).optional(),
  /** Share of maxSteps that may be spent learning the graph before it is frozen. */
  dagStepsFraction: z.number().min(0).max(1).default(0.6),
  evalEvery: z.number().int().min(1).default(50),
  patience: z.number().int().min(1).default(6),
  validationFraction: z.number().min(0.05).max(0.5).default(0.2),
  /** Steps run without gradient before each training chunk so the state looks like the stream's. */
  burnIn: z.number().int().min(0).optional(),
}).strict();

export const DagConfigSchema = z.object({
  learn: z.boolean().default(true),
  l1: z.number().min(0).default(0),
  rhoInit: z.number().positive().default(1),
  rhoMax: z.number().positive().default(1e10),
  rhoFactor: z.number().gt(1).default(10),
  progressFraction: z.number().gt(0).lt(1).default(0.25),
  stepsPerRound: z.number().int().min(1).default(50),
  hTol: z.number().positive().default(1e-6),
  /** Edges below this fraction of the largest weight are dropped when the DAG is extracted. */
  thresholdFraction: z.number().min(0).max(1).default(0.1),
  maxParents: z.number().int().min(1).optional(),
  prior: z.object({
    path: z.string(),
    format: z.enum(['edges', 'matrix']).default('matrix'),
    mode: z.enum(['restrict', 'init']).default('restrict'),
    hops: z.number().int().min(1).default(1),
    directed: z.boolean().default(false),
  }).strict().optional(),
}).strict();

export const ThresholdConfigSchema = z.object({
  method: z.enum(['spot', 'quantile']).default('spot'),
  /**
   * A fitted threshold that fires on more than this share of the calibration steps, or sits
   * far beyond what the bulk of the calibration scores allows, is replaced by a robust tail
   * extrapolation; a SPOT tail extrapolated far past the largest calibration score, by the
   * calibration's own extreme quantile (src/scoring/threshold.ts, thresholdProblem); the manifest says so.
   */
  maxCalibrationAlertRate: z.number().gt(0).lt(1).default(0.02),
  /** Risk level q: the threshold is exceeded by normal data with probability q (spot: from a GPD tail fit; quantile: the empirical 1 - q quantile). */
  level: z.number().gt(0).lt(1).default(1e-3),
  initialQuantile: z.number().gt(0.5).lt(1).default(0.98),
}).strict();

export const GanfConfigSchema = z.object({
  data: DataConfigSchema.prefault({}),
  model: ModelConfigSchema.prefault({}),
  train: TrainConfigSchema.prefault({}),
  dag: DagConfigSchema.prefault({}),
  threshold: ThresholdConfigSchema.prefault({}),
}).strict();

export type GanfConfig = z.infer<typeof GanfConfigSchema>;
export type DataConfig = z.infer<typeof DataConfigSchema>;
export type ModelConfig = z.infer<typeof ModelConfigSchema>;
export type TrainConfig = z.infer<typeof TrainConfigSchema>;
export type DagConfig = z.infer<typeof DagConfigSchema>;
export type ThresholdConfig = z.infer<typeof ThresholdConfigSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Validate with any config schema; errors list each bad field as a dotted path with the reason. */
export function parseWith<S extends z.ZodType>(schema: S, raw: unknown, source: string): z.infer<S> {
  const r = schema.safeParse(raw);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => `  ${i.path.join('.') || '(root)'}: ${i.message}`);
  throw new ConfigError(`invalid ${source}:\n${lines.join('\n')}`);
}

export function parseConfig(raw: unknown, source = 'config'): GanfConfig {
  return parseWith(GanfConfigSchema, raw, source);
}

/** The CSV reader's options of a data config (everything but the missing-value policy). */
export function csvOptionsOf(data: DataConfig): Omit<DataConfig, 'missing' | 'plausibleMargin'> {
  const { missing: _missing, plausibleMargin: _margin, ...csv } = data;
  return csv;
}

/** Reads a JSON config; a relative `dag.prior.path` in it is resolved against the file's folder. */
export function loadConfigFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(`cannot read config file ${file}: ${(e as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`config file ${file} is not valid JSON: ${(e as Error).message}`);
  }
  const prior = (raw as { dag?: { prior?: { path?: unknown } } } | null)?.dag?.prior;
  if (prior && typeof prior.path === 'string' && !isAbsolute(prior.path)) prior.path = resolvePath(dirname(file), prior.path);
  return raw;
}

/** Deep-merge command-line overrides (dotted paths) onto a raw config object. */
export function applyOverrides(raw: unknown, overrides: Record<string, unknown>): Record<string, unknown> {
  const out = structuredClone((raw ?? {}) as Record<string, unknown>);
  for (const [path, value] of Object.entries(overrides)) {
    if (value === undefined) continue;
    const keys = path.split('.');
    let node = out;
    for (const k of keys.slice(0, -1)) {
      if (typeof node[k] !== 'object' || node[k] === null) node[k] = {};
      node = node[k] as Record<string, unknown>;
    }
    node[keys[keys.length - 1]] = value;
  }
  return out;
}
