// Every method of a benchmark row in one run, on the same splits, scored by the same metric code:
// GANF as configured, GANF without its graph (A = 0), GANF on a random unlearned DAG, the same
// GANF model scored without its stuck-reading surprise, and the PCA / IsolationForest / z-score
// baselines under GANF's own protocol (src/scoring/baselines/).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fitDetector, scoreTable, type Detector, type FitReport, type TableScores } from '../src/detector.ts';
import { runBaseline, BASELINES, type BaselineName } from '../src/scoring/baselines/index.ts';
import { alertEpisodes, detectionMetrics, type DetectionMetrics } from '../src/scoring/backtest.ts';
import { auroc, auprc, cellAuroc } from '../src/scoring/metrics.ts';
import { applyOverrides, loadConfigFile, parseConfig, type GanfConfig } from '../src/config.ts';
import type { SeriesTable } from '../src/data/table.ts';
import type { ThresholdState } from '../src/scoring/threshold.ts';

export const METHODS = {
  ganf: 'GANF',
  ganfNoGraph: 'GANF A=0',
  ganfRandomDag: 'GANF random DAG',
  ganfNoStuck: 'GANF w/o stuck readings',
  ...BASELINES,
} as const;
export type MethodKey = keyof typeof METHODS;
const GANF_KEYS = ['ganf', 'ganfNoGraph', 'ganfRandomDag'] as const;

/** GANF_BENCH_FAST=1 caps training at 60 optimiser steps (GANF_BENCH_FAST=N: N steps), for trying the harness, never for reported numbers. */
function fastOverrides(): Record<string, unknown> {
  const fast = process.env.GANF_BENCH_FAST;
  const steps = fast ? (Number(fast) > 1 ? Number(fast) : 60) : undefined;
  return steps ? { 'train.maxSteps': steps, 'train.evalEvery': Math.max(10, Math.floor(steps / 4)) } : {};
}

/** Preset with the fast-iteration override (fastOverrides). */
export function benchConfig(name: string, overrides: Record<string, unknown> = {}): GanfConfig {
  return parseConfig(applyOverrides(loadConfigFile(`config/${name}.json`), { ...overrides, ...fastOverrides() }));
}

/**
 * What a new user's `ganf train --data file.csv` runs: the default config with only the preset's
 * data block (how to read the file: columns, timestamps, missing values), and the fast-iteration
 * override (fastOverrides).
 */
export function defaultConfigOf(preset: GanfConfig): GanfConfig {
  return parseConfig(applyOverrides({ data: preset.data }, fastOverrides()));
}

/** Whether this run fits the two graph ablations as well (GANF_BENCH_ABLATION=0 skips them: 3x less training). */
export const ablationOn = () => process.env.GANF_BENCH_ABLATION !== '0';

let emptyPrior: string | undefined;
/** An edge list with no edges: as a restricting prior it masks every pair, so A = 0 exactly. */
function emptyPriorFile(): string {
  if (!emptyPrior) {
    emptyPrior = path.join(mkdtempSync(path.join(tmpdir(), 'ganf-bench-')), 'no-edges.csv');
    writeFileSync(emptyPrior, 'source,target\n');
  }
  return emptyPrior;
}

/**
 * The ablation configs. `dag.learn: false` alone does not give A = 0: training then freezes the
 * randomly initialised A (U(0, 0.1) off the diagonal) into a DAG at once - which is exactly the
 * "unstructured" alternative: a random DAG with the preset's parent budget, never learned. A = 0
 * needs an empty restricting prior on top (see emptyPriorFile).
 */
export function ganfVariant(c: GanfConfig, key: (typeof GANF_KEYS)[number]): GanfConfig {
  if (key === 'ganf') return c;
  if (key === 'ganfNoGraph') {
    return { ...c, dag: { ...c.dag, learn: false, prior: { path: emptyPriorFile(), format: 'edges', mode: 'restrict', hops: 1, directed: false } } };
  }
  return { ...c, dag: { ...c.dag, learn: false, prior: undefined } };
}

export interface MethodOutput {
  scores: Float32Array;
  alerts: Uint8Array;
  threshold: ThresholdState;
  /** T*K per-sensor scores in `sensors` order (GANF: calibrated surprise), or null. */
  perSensor: Float32Array | null;
  sensors: string[];
  trainSeconds: number | null;
  dagEdges: number | null;
}

export async function runMethods(
  train: SeriesTable, test: SeriesTable, c: GanfConfig,
  opts: { warmStart: boolean; ablation?: boolean; onGanf?: (d: Detector, s: TableScores, r: FitReport) => void },
): Promise<Partial<Record<MethodKey, MethodOutput>>> {
  const out: Partial<Record<MethodKey, MethodOutput>> = {};
  for (const key of GANF_KEYS) {
    if (key !== 'ganf' && !(opts.ablation ?? ablationOn())) continue;
    const { detector, report } = await fitDetector(train, ganfVariant(c, key));
    const s = scoreTable(detector, test, { warmStart: opts.warmStart });
    if (key === 'ganf') opts.onGanf?.(detector, s, report);
    out[key] = {
      scores: s.total, alerts: s.alerts, threshold: detector.threshold, perSensor: s.surprise, sensors: detector.sensors,
      trainSeconds: report.train.seconds, dagEdges: detector.graph.size,
    };
    if (key === 'ganf') {
      // The same trained model scored as a model fitted before stuck readings would be (no longest
      // training runs in its scaler): what the stuck-reading surprise adds, on one model, in one run.
      const plain = scoreTable(withoutStuckReadings(detector), test, { warmStart: opts.warmStart });
      out.ganfNoStuck = { ...out.ganf!, scores: plain.total, alerts: plain.alerts, perSensor: plain.surprise, trainSeconds: null };
    }
    detector.model.dispose();
  }
  for (const name of Object.keys(BASELINES) as BaselineName[]) {
    const b = runBaseline(name, train, test, c);
    out[name] = { scores: b.scores, alerts: b.alerts, threshold: b.threshold, perSensor: b.perSensor, sensors: b.sensors, trainSeconds: null, dagEdges: null };
  }
  return out;
}

function withoutStuckReadings(d: Detector): Detector {
  return { ...d, scaler: { ...d.scaler, kept: d.scaler.kept.map((k) => ({ ...k, longestRepeat: undefined, longestRepeatOnGrids: undefined })) } };
}

export interface MethodResult {
  metrics: DetectionMetrics;
  cellAuroc: number | null;
  trainSeconds: number | null;
  dagEdges: number | null;
  /** Per-run protocols (SKAB): mean over runs of each run's AUROC / AUPRC. */
  meanPerRun?: { auroc: number | null; auprc: number | null; runs: number };
}

/** Cell labels: T*K in `sensors` order, 1 where that sensor is anomalous at that step. */
export interface CellLabels {
  sensors: string[];
  labels: Uint8Array;
}

/** A method's metrics on `test`, with the alerts the stream's rule would have sent from its exceedances. */
export function methodMetrics(scores: Float32Array, alerts: Uint8Array, threshold: ThresholdState, test: SeriesTable): DetectionMetrics {
  return detectionMetrics(scores, test.labels, alerts, threshold.value, test.timestamps, alertEpisodes(scores, alerts, test.timestamps, threshold));
}

export function evaluateMethods(outputs: Partial<Record<MethodKey, MethodOutput>>, test: SeriesTable, cells?: CellLabels): Partial<Record<MethodKey, MethodResult>> {
  const res: Partial<Record<MethodKey, MethodResult>> = {};
  for (const [key, o] of Object.entries(outputs) as [MethodKey, MethodOutput][]) {
    res[key] = {
      metrics: methodMetrics(o.scores, o.alerts, o.threshold, test),
      cellAuroc: cells && o.perSensor ? cellAuroc(o.perSensor, o.sensors, cells.labels, cells.sensors) : null,
      trainSeconds: o.trainSeconds, dagEdges: o.dagEdges,
    };
  }
  return res;
}

/** AUROC / AUPRC of one run, null when the run holds one class only. */
export function runScores(scores: ArrayLike<number>, labels: Uint8Array): { auroc: number | null; auprc: number | null } {
  const pos = labels.reduce((a, b) => a + b, 0);
  if (pos === 0 || pos === labels.length) return { auroc: null, auprc: null };
  return { auroc: auroc(scores, labels), auprc: auprc(scores, labels) };
}

/**
 * Attribution check: how often each sensor is among a step's `top` largest per-sensor scores over
 * the labelled steps, ranked; returns the rank (1 = most frequent) of each sensor of interest.
 */
export function attributionRanks(o: MethodOutput, labels: Uint8Array, ofInterest: string[], top = 5): Record<string, number | null> {
  if (!o.perSensor) return Object.fromEntries(ofInterest.map((s) => [s, null]));
  const K = o.sensors.length;
  const counts = new Float64Array(K);
  for (let t = 0; t < labels.length; t++) {
    if (!labels[t]) continue;
    const row = Array.from({ length: K }, (_, k) => k).sort((a, b) => o.perSensor![t * K + b] - o.perSensor![t * K + a]);
    for (const k of row.slice(0, top)) counts[k]++;
  }
  const ranked = Array.from({ length: K }, (_, k) => k).sort((a, b) => counts[b] - counts[a]);
  return Object.fromEntries(ofInterest.map((s) => {
    const k = o.sensors.indexOf(s);
    return [s, k < 0 ? null : ranked.indexOf(k) + 1];
  }));
}

// --- markdown -------------------------------------------------------------------------------------

/** One dataset's split as every section runs it: the preset, the data fitted and the data scored. */
export interface Split {
  config: GanfConfig;
  train: SeriesTable;
  test: SeriesTable;
  /** The test data directly follows the training data (scoring warm-starts from its tail). */
  warmStart: boolean;
  cells?: CellLabels;
}

export interface BenchRow {
  dataset: string;
  protocol: string;
  sensors: number;
  methods: Partial<Record<MethodKey, MethodResult>>;
  extra?: Record<string, unknown>;
}

const n3 = (v: number | null | undefined) => (v === null || v === undefined ? '–' : v.toFixed(3));
const n2 = (v: number | null | undefined) => (v === null || v === undefined ? '–' : v.toFixed(2));

/** One line per dataset: AUROC / AUPRC of every method (mean per run where the protocol is per run). */
export function summaryTable(rows: BenchRow[]): string[] {
  const keys = Object.keys(METHODS) as MethodKey[];
  const cell = (r: BenchRow, k: MethodKey) => {
    const m = r.methods[k];
    if (!m) return '–';
    const a = m.meanPerRun ?? m.metrics;
    return `${n3(a.auroc)} / ${n3(a.auprc)}`;
  };
  return [
    `| dataset | K | ${keys.map((k) => `${METHODS[k]} AUROC / AUPRC`).join(' | ')} |`,
    `|---|---|${keys.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.dataset} | ${r.sensors} | ${keys.map((k) => cell(r, k)).join(' | ')} |`),
  ];
}

function alertCells(r: DetectionMetrics['asAlerts']): string {
  return r ? `${r.alerts} | ${r.detectedEvents}/${r.totalEvents} | ${r.falseAlarmEvents} (${n2(r.falseAlarmsPerDay)}) | ${r.medianDelaySteps ?? '–'}` : '– | – | – | –';
}

/** One line per dataset and method: everything, including the label-free threshold's behaviour. */
export function detailTable(rows: BenchRow[]): string[] {
  const out = [
    '| dataset | method | AUROC | AUPRC | mean per run AUROC / AUPRC | best F1 | events at threshold | false-alarm events (per day) | median delay (steps) | alert steps | ' +
      'alerts sent (alert rule) | events alerted | false alerts (per day) | median alert delay | cell AUROC | DAG edges | train s |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    for (const [k, m] of Object.entries(r.methods) as [MethodKey, MethodResult][]) {
      const a = m.metrics.atModelThreshold;
      out.push(`| ${r.dataset} | ${METHODS[k]} | ${n3(m.metrics.auroc)} | ${n3(m.metrics.auprc)} | ` +
        `${m.meanPerRun ? `${n3(m.meanPerRun.auroc)} / ${n3(m.meanPerRun.auprc)} (${m.meanPerRun.runs} runs)` : '–'} | ${n3(m.metrics.bestF1?.f1)} | ` +
        `${a ? `${a.detectedEvents}/${a.totalEvents}` : '–'} | ${a ? `${a.falseAlarmEvents} (${n2(a.falseAlarmEventsPerDay)})` : '–'} | ` +
        `${a?.medianDelaySteps ?? '–'} | ${a ? `${a.alertSteps}/${m.metrics.steps}` : '–'} | ${alertCells(m.metrics.asAlerts)} | ${n3(m.cellAuroc)} | ${m.dagEdges ?? '–'} | ${m.trainSeconds === null ? '–' : m.trainSeconds.toFixed(0)} |`);
    }
  }
  return out;
}
