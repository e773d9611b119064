// On-demand benchmarks (not part of `npm test`): throughput side by side, and backtests on the
// real data in ../shared/data beside a z-score baseline. Results: bench/out/results.json and
// bench/out/results.md (summarised in the README).
//   npm run bench                 # everything
//   npm run bench -- throughput   # one section: throughput | fixtures | variants | batadal | skab | gridstage | losloop
import { mkdir, writeFile, readdir, access } from 'node:fs/promises';
import path from 'node:path';
import { tf, initBackend } from '../src/flow/tf.ts';
import { throughput } from './throughput.ts';
import { realDataBacktests } from './real-data.ts';
import { fixtureBacktests, variantComparison } from './fixtures.ts';

const sections = process.argv.slice(2);
const want = (s: string) => sections.length === 0 || sections.includes(s);
const backend = await initBackend();
const results: Record<string, unknown> = { date: new Date().toISOString(), backend, node: process.version };
const md: string[] = [`# Benchmark results (${results.date}, backend ${backend})`, ''];

if (want('throughput')) {
  const r = await throughput();
  results.throughput = r.rows;
  md.push('## Throughput (median of repeated runs, same process)', '', ...r.markdown, '');
}
if (want('fixtures')) {
  const r = await fixtureBacktests();
  results.fixtures = r.rows;
  md.push('## Fixtures (full presets)', '', ...r.markdown, '');
}
if (want('variants')) {
  const r = await variantComparison();
  results.variants = r.rows;
  md.push('## Model variants on the grid fixture (validation NLL, test AUROC)', '', ...r.markdown, '');
}
const shared = path.resolve('../shared/data');
let haveShared = true;
try { await access(shared); } catch { haveShared = false; }
if (haveShared) {
  const r = await realDataBacktests(shared, want);
  results.realData = r.rows;
  md.push('## Real data (../shared/data)', '', ...r.markdown, '');
} else {
  md.push('_../shared/data not present: real-data backtests skipped._');
}
await mkdir('bench/out', { recursive: true });
await writeFile('bench/out/results.json', JSON.stringify(results, null, 2) + '\n');
await writeFile('bench/out/results.md', md.join('\n') + '\n');
console.log(md.join('\n'));
void tf; void readdir;
