// One refit, as run inside the worker thread: read the buffer, leave out alerted steps, hold out
// the most recent part, fit a candidate (warm-started from the active model where the shapes
// allow), shadow-score both models on the held-out steps, decide by the stated rule, and write the
// candidate as a new immutable version directory. The worker never touches the active pointer:
// promotion is the main thread's, after the worker has finished. A worker that fails or is
// terminated leaves at most an unregistered `.tmp-` directory, which the registry ignores.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { initBackend } from '../../flow/tf.ts';
import { fitDetector, loadDetector, saveDetector } from '../../detector.ts';
import { readCsvFile } from '../../adapters/csv-file.ts';
import { filterRows, sliceRows, tableLength, DataError, type SeriesTable } from '../../data/table.ts';
import { applyOverrides, csvOptionsOf, parseConfig } from '../../config.ts';
import type { Evaluation } from '../models/registry.ts';
import { decide, shadowScore, type PromotionRule } from './shadow.ts';

export type RefitSource =
  | { kind: 'csv'; path: string }
  | { kind: 'table'; table: SeriesTable };

export interface RefitInput {
  jobId: string;
  versionsDir: string;
  activeDir: string;
  source: RefitSource;
  /** Use only the most recent N rows of the source. */
  lastSteps?: number;
  /** [startMs, endMs] intervals (alerts) whose steps are left out. */
  exclude: [number, number][];
  holdoutFraction: number;
  warmStart: boolean;
  /** Dotted-path overrides of the training config (e.g. {"train.maxSteps": 200}). */
  overrides: Record<string, unknown>;
  rule: PromotionRule;
}

export interface RefitOutput {
  version: string;
  warmStarted: boolean;
  bufferSteps: number;
  excludedSteps: number;
  trainSteps: number;
  heldOutSteps: number;
  fitSeconds: number;
  evaluation: Evaluation;
}

export type Progress = (phase: string, fraction: number) => void;

export async function runRefit(input: RefitInput, progress: Progress): Promise<RefitOutput> {
  progress('loading', 0.02);
  await initBackend();
  const active = await loadDetector(input.activeDir);
  try {
    let table: SeriesTable;
    if (input.source.kind === 'csv') {
      const csv = csvOptionsOf(active.config.data);
      table = await readCsvFile(input.source.path, csv);
    } else table = input.source.table;
    if (input.lastSteps !== undefined) table = sliceRows(table, -input.lastSteps);
    const bufferSteps = tableLength(table);
    const keep = Array.from(table.timestamps, (t) => !input.exclude.some(([s, e]) => t >= s && t <= e));
    const excludedSteps = keep.filter((k) => !k).length;
    if (excludedSteps) table = filterRows(table, keep);
    const T = tableLength(table);
    const nHold = Math.round(T * input.holdoutFraction);
    const config = parseConfig(applyOverrides(active.config, input.overrides), 'refit config');
    const minTrain = config.model.window * 5;
    if (T - nHold < minTrain || nHold < config.model.window) {
      throw new DataError({ field: 'buffer', reason: `${T} usable steps (${bufferSteps} in the buffer, ${excludedSteps} alerted left out) are too few: need ${minTrain} to train and ${config.model.window} to hold out` });
    }
    const trainTable = sliceRows(table, 0, T - nHold);
    const heldOut = sliceRows(table, T - nHold, T);
    const context = sliceRows(trainTable, -Math.max(config.model.window, config.train.burnIn ?? config.model.window));

    progress('training', 0.1);
    const started = performance.now();
    const { detector: candidate, report: { warmStarted } } = await fitDetector(trainTable, config, () => {}, input.warmStart ? active : undefined);
    const fitSeconds = (performance.now() - started) / 1000;
    try {
      progress('shadow-scoring', 0.85);
      const a = shadowScore(active, context, heldOut);
      const c = shadowScore(candidate, context, heldOut);
      const evaluation = decide(active, candidate, a, c, input.rule);

      progress('saving', 0.95);
      const dir = path.join(input.versionsDir, candidate.modelVersion);
      if (!existsSync(path.join(dir, 'manifest.json'))) await saveDetector(candidate, dir);
      return { version: candidate.modelVersion, warmStarted, bufferSteps, excludedSteps, trainSteps: T - nHold, heldOutSteps: nHold, fitSeconds, evaluation };
    } finally {
      candidate.model.dispose();
      candidate.adjacency.dispose();
    }
  } finally {
    active.model.dispose();
    active.adjacency.dispose();
  }
}
