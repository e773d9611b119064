// Backtests on the project's own fixtures with the full presets - every method of bench/methods.ts
// in the same run, with cell AUROC from truth.json's per-anomaly sensors - and the model variants
// the earlier issue asked to compare (stateful vs windowed encoder, sinh-arcsinh vs affine flow).
import { readFile } from 'node:fs/promises';
import { readCsvFile } from '../src/adapters/csv-file.ts';
import { tableLength } from '../src/data/table.ts';
import { edgeAuroc } from '../src/scoring/metrics.ts';
import { METHODS, benchConfig, runMethods, evaluateMethods, summaryTable, detailTable, type BenchRow, type CellLabels, type MethodKey, type MethodOutput, type Split } from './methods.ts';

interface Truth {
  graph: { directed: boolean; edges: { source: string; target: string }[] };
  anomalies: { kind: string; sensors: string[]; startIndex: number; endIndex: number }[];
}

/** For each labelled anomaly and method: the share of normal steps scoring below the event's peak score (1 = above every normal step). */
function eventPeaks(truth: Truth, labels: Uint8Array, outputs: Partial<Record<MethodKey, MethodOutput>>) {
  const rank = (sorted: number[], v: number) => {
    let lo = 0, hi = sorted.length;
    while (lo < hi) { const mid = (lo + hi) >> 1; if (sorted[mid] < v) lo = mid + 1; else hi = mid; }
    return lo / sorted.length;
  };
  const normal = Object.fromEntries((Object.entries(outputs) as [MethodKey, MethodOutput][]).map(([k, o]) =>
    [k, Array.from(o.scores).filter((_, t) => labels[t] === 0).sort((x, y) => x - y)]));
  return truth.anomalies.map((a) => {
    const peaks: Partial<Record<MethodKey, number>> = {};
    for (const [k, o] of Object.entries(outputs) as [MethodKey, MethodOutput][]) {
      let p = -Infinity;
      for (let t = a.startIndex; t < a.endIndex; t++) p = Math.max(p, o.scores[t]);
      peaks[k] = rank(normal[k], p);
    }
    return { kind: a.kind, sensors: a.sensors.join(','), steps: a.endIndex - a.startIndex, peaks };
  });
}

function cellLabels(truth: Truth, sensors: string[], T: number): CellLabels {
  const labels = new Uint8Array(T * sensors.length);
  for (const a of truth.anomalies) {
    for (const s of a.sensors) {
      const k = sensors.indexOf(s);
      if (k < 0) continue;
      for (let t = a.startIndex; t < Math.min(T, a.endIndex); t++) labels[t * sensors.length + k] = 1;
    }
  }
  return { sensors, labels };
}

/** A fixture's split: train.csv -> test.csv under its preset, cell labels from truth.json. */
export async function fixtureSplit(name: string, overrides: Record<string, unknown> = {}): Promise<Split & { truth: Truth }> {
  const dir = `fixtures/${name}`;
  const config = benchConfig(name, overrides);
  const opts = { intervalMs: config.data.intervalMs };
  const train = await readCsvFile(`${dir}/train.csv`, opts);
  const test = await readCsvFile(`${dir}/test.csv`, opts);
  const truth = JSON.parse(await readFile(`${dir}/truth.json`, 'utf8')) as Truth;
  return { config, train, test, warmStart: true, cells: cellLabels(truth, test.sensors, tableLength(test)), truth };
}

async function run(name: string, overrides: Record<string, unknown> = {}, ablation?: boolean) {
  const { config, train, test, warmStart, cells, truth } = await fixtureSplit(name, overrides);
  let ganf: { edgeAurocSkeleton: number; edgeAurocDirected: number | null; validationNll: number; trainSteps: number } | undefined;
  const outputs = await runMethods(train, test, config, {
    warmStart, ablation,
    onGanf: (d, _s, report) => {
      const idx = new Map(d.sensors.map((s, i) => [s, i] as const));
      const pairs = truth.graph.edges.filter((e) => idx.has(e.source) && idx.has(e.target)).map((e) => [idx.get(e.source)!, idx.get(e.target)!] as [number, number]);
      ganf = {
        edgeAurocSkeleton: edgeAuroc(report.train.learnedWeights, pairs, false),
        edgeAurocDirected: truth.graph.directed ? edgeAuroc(report.train.learnedWeights, pairs, true) : null,
        validationNll: report.train.bestValidationNll, trainSteps: report.train.steps,
      };
    },
  });
  const row: BenchRow = {
    dataset: name, protocol: 'train.csv -> test.csv, full preset', sensors: outputs.ganf!.sensors.length,
    methods: evaluateMethods(outputs, test, cells),
    extra: { overrides, ...ganf },
  };
  return { row, events: eventPeaks(truth, test.labels!, outputs) };
}

export async function fixtureBacktests(): Promise<{ rows: unknown[]; markdown: string[] }> {
  const runs = [await run('grid'), await run('traffic')];
  const rows = runs.map((r) => r.row);
  const keys = Object.keys(runs[0].events[0]?.peaks ?? {}) as MethodKey[];
  const events = runs.flatMap((r) => r.events.map((e) => `| ${r.row.dataset} | ${e.kind} | ${e.sensors} | ${e.steps} | ${keys.map((k) => e.peaks[k]?.toFixed(3) ?? '–').join(' | ')} |`));
  return {
    rows: runs,
    markdown: [
      ...summaryTable(rows), '', ...detailTable(rows), '',
      ...rows.map((r) => `- ${r.dataset}: ${JSON.stringify(r.extra)}`), '',
      'Per anomaly: share of normal test steps scoring below the event\'s peak score (1.000 = the event outscores every normal step).', '',
      `| fixture | kind | root-cause sensors | steps | ${keys.map((k) => METHODS[k]).join(' | ')} |`, `|---|---|---|---|${keys.map(() => '---').join('|')}|`, ...events,
    ],
  };
}

export async function variantComparison(): Promise<{ rows: unknown[]; markdown: string[] }> {
  const variants: [string, Record<string, unknown>][] = [
    ['stateful, sinh-arcsinh (default)', {}],
    ['stateful, affine', { 'model.transform': 'affine' }],
    ['windowed, sinh-arcsinh', { 'model.encoder': 'windowed' }],
  ];
  const rows: BenchRow[] = [];
  for (const [label, o] of variants) {
    const { row } = await run('grid', o, false);
    rows.push({ ...row, dataset: `grid: ${label}` });
  }
  return { rows, markdown: [...summaryTable(rows), '', ...rows.map((r) => `- ${r.dataset}: ${JSON.stringify(r.extra)}`)] };
}
