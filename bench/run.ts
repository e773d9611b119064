// On-demand benchmarks (not part of `npm test`): throughput side by side, and backtests on the
// fixtures and the real data in ../shared/data, every method in the same run (bench/methods.ts).
// Results: bench/results/results.json and bench/results/results.md (summarised in the README),
// written after every section; running one section (or one dataset) updates only that one.
//   npm run bench                 # everything
//   npm run bench -- throughput   # one section: throughput | training | defaults | fixtures | variants | batadal | skab | gridstage | losloop | seeds
// Environment:
//   GANF_DATA_DIR=/path/to/shared/data   where the real data is (default ../shared/data)
//   GANF_BENCH_FAST=1 (or =N)            cap GANF training at 60 (N) optimiser steps, for quick iteration only
//   GANF_BENCH_ABLATION=0                skip the graph ablations (GANF A=0, random DAG): 3x less training
import { mkdir, writeFile, readFile, access } from 'node:fs/promises';
import path from 'node:path';
import { tf, initBackend } from '../src/flow/tf.ts';
import { throughput } from './throughput.ts';
import { trainingTime } from './training.ts';
import { defaultConfigBacktests } from './defaults.ts';
import { realDataBacktests, REAL_SECTIONS } from './real-data.ts';
import type { BenchRow } from './methods.ts';
import { fixtureBacktests, variantComparison } from './fixtures.ts';
import { seedSpread, skabSeedSpread } from './seeds.ts';

const sections = process.argv.slice(2);
const want = (s: string) => sections.length === 0 || sections.includes(s);
const backend = await initBackend();
// Fast runs are for iteration only and never overwrite the reported results.
const OUT = process.env.GANF_BENCH_FAST ? 'runs/bench-fast' : 'bench/results';
const previous = await readFile(`${OUT}/results.json`, 'utf8').then((t) => JSON.parse(t) as Record<string, Section>).catch(() => ({} as Record<string, Section>));
interface Section { date: string; backend: string; rows: unknown[]; markdown: string[] }
const results: Record<string, Section> = { ...previous };
const fast = process.env.GANF_BENCH_FAST ? ` — GANF_BENCH_FAST=${process.env.GANF_BENCH_FAST}: reduced training, not for reporting` : '';
const record = async (name: string, r: { rows: unknown[]; markdown: string[] }) => {
  results[name] = { date: new Date().toISOString(), backend: backend + fast, rows: r.rows, markdown: r.markdown };
  await save();
};

async function save(): Promise<void> {
  await mkdir(OUT, { recursive: true });
  await writeFile(`${OUT}/results.json`, JSON.stringify(results, null, 2) + '\n');
  await writeFile(`${OUT}/results.md`, markdown().join('\n') + '\n');
}

const titles: Record<string, string> = {
  throughput: 'Throughput (median of repeated runs, same process)',
  training: 'Training time with the default config',
  fixtures: 'Fixtures (full presets)',
  variants: 'Model variants on the grid fixture',
  realData: 'Real data (../shared/data)',
  defaults: 'Default config on every dataset (no preset)',
  seeds: 'Seed spread and seed ensembles (GANF, fixtures and real data)',
  seedsDefaults: 'Seed spread and seed ensembles, default config',
  seedsSkab: 'SKAB seed spread, default config',
};
function markdown(): string[] {
  const md = ['# Benchmark results', ''];
  for (const [name, title] of Object.entries(titles)) {
    const r = results[name];
    if (!r) continue;
    md.push(`## ${title}`, '', `_${r.date}, backend ${r.backend}, ${process.version}_`, '', ...r.markdown, '');
  }
  return md;
}
if (want('throughput')) await record('throughput', await throughput());
const shared = path.resolve(process.env.GANF_DATA_DIR ?? '../shared/data');
const haveShared = await access(shared).then(() => true, () => false);
if (want('training')) await record('training', await trainingTime(haveShared ? shared : null));
if (want('fixtures')) await record('fixtures', await fixtureBacktests());
if (want('variants')) await record('variants', await variantComparison());
if (haveShared && REAL_SECTIONS.some(want)) {
  // One dataset at a time, each saved as it finishes, so a long run keeps what it has measured.
  for (const s of REAL_SECTIONS.filter(want)) {
    const previous = (results.realData?.rows ?? []) as BenchRow[];
    await record('realData', await realDataBacktests(shared, (x) => x === s, previous));
  }
} else if (!haveShared) console.log(`${shared} not present: real-data backtests skipped (set GANF_DATA_DIR)`);
if (want('defaults')) await record('defaults', await defaultConfigBacktests(haveShared ? shared : null));
if (want('seeds')) await record('seeds', await seedSpread(haveShared ? shared : null, 'preset'));
if (want('seeds-defaults')) await record('seedsDefaults', await seedSpread(haveShared ? shared : null, 'default'));
if (want('seeds-skab') && haveShared) await record('seedsSkab', await skabSeedSpread(shared));

await save();
console.log(markdown().join('\n'));
void tf;
