// How much of a GANF result is the seed: the same preset and split trained with train.seed 42 (every
// preset's), 43 and 44, each model scored and thresholded on its own, their median and range; and
// the three models as a seed ensemble (the issue's lever: each sensor's calibrated surprise
// averaged over the members, then the model's aggregate, thresholded by the same fitThreshold on
// the members' averaged validation surprises). The baselines are deterministic; they are run on
// the same split in the same run for the comparison. Run for the presets (section `seeds`) and for
// the default config (`seeds-defaults`: defaultConfigOf). SKAB (20 runs, each its own model) has
// its own section, default config only (`seeds-skab`): its preset trains valve1 for 8 minutes a seed.
import { fitDetector, scoreTable } from '../src/detector.ts';
import { aggregateRow, aggregateSpecOf } from '../src/scoring/aggregate.ts';
import { surpriseRow } from '../src/scoring/calibration.ts';
import { exceeds, fitThreshold } from '../src/scoring/threshold.ts';
import type { DetectionMetrics } from '../src/scoring/backtest.ts';
import { cellAuroc } from '../src/scoring/metrics.ts';
import { runBaseline, BASELINES, type BaselineName } from '../src/scoring/baselines/index.ts';
import { tableLength } from '../src/data/table.ts';
import type { GanfConfig } from '../src/config.ts';
import { benchConfig, defaultConfigOf, methodMetrics, type BenchRow, type MethodKey, type Split } from './methods.ts';
import { fixtureSplit } from './fixtures.ts';
import { batadalSplit, gridstageSplit, losloopSplit, skabRows } from './real-data.ts';

export const SEEDS = [42, 43, 44];

interface Scored {
  metrics: DetectionMetrics;
  cellAuroc: number | null;
  trainSeconds: number | null;
}

interface SeedRow {
  dataset: string;
  sensors: number;
  seeds: Scored[];
  ensemble: Scored;
  baselines: Partial<Record<BaselineName, Scored>>;
}

/** The members' surprises [T*K] averaged element-wise. */
function memberMean(members: Float32Array[]): Float32Array {
  const mean = new Float32Array(members[0].length);
  for (const m of members) for (let i = 0; i < mean.length; i++) mean[i] += m[i] / members.length;
  return mean;
}

/**
 * Every step's score from averaged surprises [T*K]. Steps where a constant-in-training sensor moved
 * keep only the members' surprises (no preset here has such a sensor in its scored data).
 */
function ensembleTotals(surprise: Float32Array, K: number, spec: ReturnType<typeof aggregateSpecOf>): Float32Array {
  // The joint aggregate sums NLLs, not surprises: there is nothing per member to average.
  if (spec.mode === 'joint') throw new Error('seed ensembles average calibrated surprises: use the top-k or max-sensor aggregate');
  const total = new Float32Array(surprise.length / K);
  const scratch = new Float64Array(K);
  for (let t = 0; t < total.length; t++) total[t] = aggregateRow(surprise, surprise, t * K, K, spec, scratch);
  return total;
}

async function seedRow(dataset: string, split: Split, configOf: (preset: GanfConfig) => GanfConfig): Promise<SeedRow> {
  const { train, test, warmStart, cells } = split;
  const config = configOf(split.config);
  const cell = (perSensor: Float32Array, sensors: string[]) => (cells ? cellAuroc(perSensor, sensors, cells.labels, cells.sensors) : null);
  const seeds: Scored[] = [];
  const valSurprises: Float32Array[] = [];
  const testSurprises: Float32Array[] = [];
  let sensors: string[] = [];
  for (const seed of SEEDS) {
    const { detector, report } = await fitDetector(train, { ...config, train: { ...config.train, seed } });
    const s = scoreTable(detector, test, { warmStart });
    sensors = detector.sensors;
    const K = sensors.length;
    const val = new Float32Array(detector.calibrationScores.length);
    for (let i = 0; i < val.length; i += K) surpriseRow(detector.calibration, detector.calibrationScores, i, K, val.subarray(i, i + K));
    valSurprises.push(val);
    testSurprises.push(s.surprise);
    seeds.push({ metrics: methodMetrics(s.total, s.alerts, detector.threshold, test), cellAuroc: cell(s.surprise, sensors), trainSeconds: report.train.seconds });
    detector.model.dispose();
  }
  const K = sensors.length;
  const spec = aggregateSpecOf(config.model, K);
  const threshold = fitThreshold(ensembleTotals(memberMean(valSurprises), K, spec), config.threshold);
  const mean = memberMean(testSurprises);
  const total = ensembleTotals(mean, K, spec);
  const alerts = Uint8Array.from(total, (v) => (exceeds(v, threshold.value) ? 1 : 0));
  const ensemble = { metrics: methodMetrics(total, alerts, threshold, test), cellAuroc: cell(mean, sensors), trainSeconds: seeds.reduce((a, s) => a + (s.trainSeconds ?? 0), 0) };
  const baselines: Partial<Record<BaselineName, Scored>> = {};
  for (const name of Object.keys(BASELINES) as BaselineName[]) {
    const b = runBaseline(name, train, test, config);
    baselines[name] = { metrics: methodMetrics(b.scores, b.alerts, b.threshold, test), cellAuroc: b.perSensor ? cell(b.perSensor, b.sensors) : null, trainSeconds: null };
  }
  console.log(`[bench] seeds: ${dataset} done (${tableLength(test)} test steps)`);
  return { dataset, sensors: K, seeds, ensemble, baselines };
}

const n3 = (v: number | null | undefined) => (v === null || v === undefined ? '–' : v.toFixed(3));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const pair = (m: { auroc: number | null; auprc: number | null }) => `${n3(m.auroc)} / ${n3(m.auprc)}`;
const ranking = (s: Scored) => pair(s.metrics);
/** "median (min–max)" of the values that exist. */
const medianRange = (xs: (number | null)[]) => {
  const v = xs.filter((x): x is number => x !== null);
  return `${n3(median(v))} (${n3(Math.min(...v))}–${n3(Math.max(...v))})`;
};
const atThreshold = (s: Scored) => {
  const a = s.metrics.atModelThreshold;
  const r = s.metrics.asAlerts;
  return a ? `${a.detectedEvents}/${a.totalEvents}, ${a.falseAlarmEvents} FA${r ? `; sent ${r.detectedEvents}/${r.totalEvents}, ${r.falseAlarmEvents} false` : ''}` : '–';
};

function markdown(rows: SeedRow[], which: string): string[] {
  const names = Object.keys(BASELINES) as BaselineName[];
  const spread = (r: SeedRow, key: 'auroc' | 'auprc') => medianRange(r.seeds.map((s) => s.metrics[key]));
  return [
    `GANF (${which}) with train.seed ${SEEDS.join(', ')} (${SEEDS[0]} is every preset's and the default), the three as a seed ensemble, and the deterministic baselines under the same config on the same split, AUROC / AUPRC:`, '',
    `| dataset | K | ${SEEDS.map((s) => `seed ${s}`).join(' | ')} | median AUROC (range) | median AUPRC (range) | ensemble of ${SEEDS.length} | ${names.map((n) => BASELINES[n]).join(' | ')} |`,
    `|---|---|${SEEDS.map(() => '---').join('|')}|---|---|---|${names.map(() => '---').join('|')}|`,
    ...rows.map((r) => `| ${r.dataset} | ${r.sensors} | ${r.seeds.map(ranking).join(' | ')} | ${spread(r, 'auroc')} | ${spread(r, 'auprc')} | ${ranking(r.ensemble)} | ${names.map((n) => ranking(r.baselines[n]!)).join(' | ')} |`),
    '', 'At each one\'s own label-free threshold (events detected, false-alarm events; then as alerts sent under the stream\'s default rule: events alerted, false alerts) and cell AUROC where there are per-sensor labels; train seconds per GANF model:', '',
    `| dataset | ${SEEDS.map((s) => `seed ${s}`).join(' | ')} | ensemble of ${SEEDS.length} | ${names.map((n) => BASELINES[n]).join(' | ')} | cell AUROC: ${SEEDS.map((s) => `seed ${s}`).join(' / ')} / ensemble | train s per seed |`,
    `|---|${SEEDS.map(() => '---').join('|')}|---|${names.map(() => '---').join('|')}|---|---|`,
    ...rows.map((r) => `| ${r.dataset} | ${r.seeds.map(atThreshold).join(' | ')} | ${atThreshold(r.ensemble)} | ${names.map((n) => atThreshold(r.baselines[n]!)).join(' | ')} | ` +
      `${[...r.seeds, r.ensemble].map((s) => n3(s.cellAuroc)).join(' / ')} | ${r.seeds.map((s) => (s.trainSeconds ?? 0).toFixed(0)).join(', ')} |`),
  ];
}

/**
 * The fixtures and, when `root` holds the shared data, BATADAL, GridSTAGE and Los-loop, with their
 * presets or with the default config (only the preset's data block: defaultConfigOf).
 */
export async function seedSpread(root: string | null, config: 'preset' | 'default'): Promise<{ rows: unknown[]; markdown: string[] }> {
  const configOf = config === 'preset' ? (c: GanfConfig) => c : defaultConfigOf;
  const rows: SeedRow[] = [];
  for (const name of ['grid', 'traffic']) rows.push(await seedRow(name, await fixtureSplit(name), configOf));
  if (root) {
    rows.push(await seedRow('BATADAL', await batadalSplit(root), configOf));
    rows.push(await seedRow('GridSTAGE s18', await gridstageSplit(root), configOf));
    rows.push(await seedRow('Los-loop', await losloopSplit(root), configOf));
  }
  return { rows, markdown: markdown(rows, config === 'preset' ? 'presets' : 'default config') };
}

/**
 * SKAB's per-run protocol (skabRows) with the default config and each seed: the mean over runs of
 * each run's AUROC / AUPRC. No ensemble (every run is its own model); the baselines are seed-free,
 * shown from the first seed's run.
 */
export async function skabSeedSpread(root: string): Promise<{ rows: unknown[]; markdown: string[] }> {
  const config = defaultConfigOf(benchConfig('skab'));
  const bySeed: BenchRow[][] = [];
  for (const seed of SEEDS) {
    bySeed.push(await skabRows(root, { ...config, train: { ...config.train, seed } }));
    console.log(`[bench] seeds-skab: seed ${seed} done`);
  }
  const names = Object.keys(BASELINES) as BaselineName[];
  const perRun = (r: BenchRow, k: MethodKey) => r.methods[k]!.meanPerRun!;
  const rows = bySeed[0].map((first, i) => {
    const seeds = bySeed.map((rs) => perRun(rs[i], 'ganf'));
    const at = bySeed.map((rs) => rs[i].methods.ganf!.metrics.atModelThreshold);
    return {
      dataset: first.dataset, sensors: first.sensors, seeds,
      atThreshold: at.map((a) => (a ? { events: `${a.detectedEvents}/${a.totalEvents}`, falseAlarmEvents: a.falseAlarmEvents } : null)),
      baselines: Object.fromEntries(names.map((n) => [n, perRun(first, n)])),
    };
  });
  return {
    rows,
    markdown: [
      `SKAB per run (fit the first 400 rows, score the rest), GANF with the default config and train.seed ${SEEDS.join(', ')}, mean over runs of each run's AUROC / AUPRC; the baselines under the same config; events at GANF's label-free threshold and false-alarm events, pooled over runs:`, '',
      `| group | K | ${SEEDS.map((s) => `seed ${s}`).join(' | ')} | median AUROC (range) | median AUPRC (range) | ${names.map((n) => BASELINES[n]).join(' | ')} | at threshold: ${SEEDS.map((s) => `seed ${s}`).join(' / ')} |`,
      `|---|---|${SEEDS.map(() => '---').join('|')}|---|---|${names.map(() => '---').join('|')}|---|`,
      ...rows.map((r) => `| ${r.dataset} | ${r.sensors} | ${r.seeds.map(pair).join(' | ')} | ${medianRange(r.seeds.map((s) => s.auroc))} | ${medianRange(r.seeds.map((s) => s.auprc))} | ` +
        `${names.map((n) => pair(r.baselines[n])).join(' | ')} | ${r.atThreshold.map((a) => (a ? `${a.events}, ${a.falseAlarmEvents}` : '–')).join(' / ')} |`),
    ],
  };
}
