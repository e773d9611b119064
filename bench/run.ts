// On-demand benchmarks (not part of `npm test`): throughput side by side, and backtests on the
// real data in ../shared/data beside a z-score baseline. Results: bench/results/results.json and
// bench/results/results.md (summarised in the README); running one section updates only that one.
//   npm run bench                 # everything
//   npm run bench -- throughput   # one section: throughput | fixtures | variants | batadal | skab | gridstage | losloop
import { mkdir, writeFile, readFile, access } from 'node:fs/promises';
import path from 'node:path';
import { tf, initBackend } from '../src/flow/tf.ts';
import { throughput } from './throughput.ts';
import { realDataBacktests } from './real-data.ts';
import { fixtureBacktests, variantComparison } from './fixtures.ts';

const sections = process.argv.slice(2);
const want = (s: string) => sections.length === 0 || sections.includes(s);
const backend = await initBackend();
const OUT = 'bench/results';
const previous = await readFile(`${OUT}/results.json`, 'utf8').then((t) => JSON.parse(t) as Record<string, Section>).catch(() => ({} as Record<string, Section>));
interface Section { date: string; backend: string; rows: unknown[]; markdown: string[] }
const results: Record<string, Section> = { ...previous };
const record = (name: string, r: { rows: unknown[]; markdown: string[] }) => {
  results[name] = { date: new Date().toISOString(), backend, rows: r.rows, markdown: r.markdown };
};

if (want('throughput')) record('throughput', await throughput());
if (want('fixtures')) record('fixtures', await fixtureBacktests());
if (want('variants')) record('variants', await variantComparison());
const shared = path.resolve('../shared/data');
const haveShared = await access(shared).then(() => true, () => false);
const realSections = ['batadal', 'skab', 'gridstage', 'losloop'];
if (haveShared && realSections.some(want)) record('realData', await realDataBacktests(shared, want));
else if (!haveShared) console.log('../shared/data not present: real-data backtests skipped');

const titles: Record<string, string> = {
  throughput: 'Throughput (median of repeated runs, same process)',
  fixtures: 'Fixtures (full presets)',
  variants: 'Model variants on the grid fixture',
  realData: 'Real data (../shared/data)',
};
const md = ['# Benchmark results', ''];
for (const [name, title] of Object.entries(titles)) {
  const r = results[name];
  if (!r) continue;
  md.push(`## ${title}`, '', `_${r.date}, backend ${r.backend}, ${process.version}_`, '', ...r.markdown, '');
}
await mkdir(OUT, { recursive: true });
await writeFile(`${OUT}/results.json`, JSON.stringify(results, null, 2) + '\n');
await writeFile(`${OUT}/results.md`, md.join('\n') + '\n');
console.log(md.join('\n'));
void tf;
