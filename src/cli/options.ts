// Command-line flags -> config overrides. Every config field a user is likely to touch has a flag;
// the rest are reachable through --config FILE.
import type { Command } from 'commander';
import { applyOverrides, loadConfigFile, parseConfig, type GanfConfig } from '../config.ts';

const num = (v: string): number => {
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`expected a number, got "${v}"`);
  return n;
};
const list = (v: string): string[] => v.split(',').map((s) => s.trim()).filter(Boolean);

export function addDataOptions(cmd: Command): Command {
  return cmd
    .option('--config <file>', 'JSON config file (see config/*.json); flags override it')
    .option('--delimiter <char>', 'CSV delimiter')
    .option('--timestamp-column <name>', 'timestamp column (default: auto-detect)')
    .option('--timestamp-format <fmt>', 'iso | epoch-ms | epoch-s | pattern like "dd/MM/yy HH"')
    .option('--interval-ms <ms>', 'step spacing when there is no timestamp column', num)
    .option('--label-column <name>', '0/1 label column (never fed to the model)')
    .option('--drop-columns <a,b>', 'columns to ignore', list)
    .option('--feature-separator <sep>', 'split "sensor.feature" columns into D > 1 features per sensor')
    .option('--missing <method>', 'missing values: ffill | interpolate | error')
    .option('--missing-limit <n>', 'longest gap (steps) that may be filled', num);
}

export function addModelOptions(cmd: Command): Command {
  return cmd
    .option('--window <n>', 'window length L', num)
    .option('--hidden <n>', 'LSTM hidden size', num)
    .option('--flow-blocks <n>', 'conditional flow blocks', num)
    .option('--transform <t>', 'affine | sinh-arcsinh')
    .option('--encoder <mode>', 'stateful | windowed')
    .option('--max-steps <n>', 'optimiser steps', num)
    .option('--batch-size <n>', 'windows per step', num)
    .option('--learning-rate <lr>', 'Adam learning rate', num)
    .option('--seed <n>', 'random seed', num)
    .option('--no-learn-graph', 'do not learn the DAG: the initial A (random, restricted to the prior pairs if a prior is given) is frozen at once')
    .option('--prior <file>', 'prior topology CSV (adjacency matrix or edge list)')
    .option('--prior-format <f>', 'matrix | edges')
    .option('--prior-mode <m>', 'restrict | init')
    .option('--threshold-method <m>', 'spot | quantile')
    .option('--threshold-level <q>', 'risk level q of the alert threshold', num);
}

type Flags = Record<string, unknown>;

export function configFromFlags(flags: Flags, base: unknown = {}): GanfConfig {
  const raw = flags.config ? loadConfigFile(String(flags.config)) : base;
  const over: Record<string, unknown> = {
    'data.delimiter': flags.delimiter,
    'data.timestampColumn': flags.timestampColumn,
    'data.timestampFormat': flags.timestampFormat,
    'data.intervalMs': flags.intervalMs,
    'data.labelColumn': flags.labelColumn,
    'data.dropColumns': flags.dropColumns,
    'data.featureSeparator': flags.featureSeparator,
    'data.missing.method': flags.missing,
    'data.missing.limit': flags.missingLimit,
    'model.window': flags.window,
    'model.hidden': flags.hidden,
    'model.flowBlocks': flags.flowBlocks,
    'model.transform': flags.transform,
    'model.encoder': flags.encoder,
    'train.maxSteps': flags.maxSteps,
    'train.batchSize': flags.batchSize,
    'train.learningRate': flags.learningRate,
    'train.seed': flags.seed,
    'dag.learn': flags.learnGraph === false ? false : undefined,
    'threshold.method': flags.thresholdMethod,
    'threshold.level': flags.thresholdLevel,
  };
  if (flags.prior) {
    over['dag.prior'] = { path: flags.prior, ...(flags.priorFormat ? { format: flags.priorFormat } : {}), ...(flags.priorMode ? { mode: flags.priorMode } : {}) };
  }
  return parseConfig(applyOverrides(raw, over), flags.config ? String(flags.config) : 'command-line options');
}
