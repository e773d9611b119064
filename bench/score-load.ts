// GET /alerts latency while POST /score is loaded with 20,000-reading requests (issue 9: "no
// other route's p99 moves while it runs"). `ganf api` runs as its own process; autocannon offers
// GET /alerts?limit=50 at a fixed rate, first alone, then while --scorers clients post
// 20,000-reading batches back to back (the bounded queue refuses the excess with 503).
//
//   node --import tsx bench/score-load.ts [--seconds 15] [--alerts-rate 50] [--scorers 3] [--readings 20000]
//
// Writes bench/results/score-load.json and prints a markdown table.
import type { ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir, loadavg } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { initBackend } from '../src/flow/tf.ts';
import { readCsvFile } from '../src/adapters/csv-file.ts';
import { selectSensors, sliceRows } from '../src/data/table.ts';
import { fitDetector } from '../src/detector.ts';
import { applyOverrides, csvOptionsOf, loadConfigFile, parseConfig } from '../src/config.ts';
import { ModelRegistry } from '../src/api/models/registry.ts';
import { JsonlAlertStore } from '../src/api/alerts/store.ts';
import { ingestAlert } from '../src/api/alerts/ingest.ts';
import { sampleAlert } from '../test/helpers/api.ts';
import { startChild, stopChild } from './child.ts';

type Autocannon = (opts: Record<string, unknown>) => Promise<{ latency: { p50: number; p99: number; max: number }; '2xx': number; non2xx: number }>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;
const args = process.argv.slice(2);
const flag = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const SECONDS = Number(flag('seconds', '15'));
const ALERTS_RATE = Number(flag('alerts-rate', '50'));
const SCORERS = Number(flag('scorers', '3'));
const READINGS = Number(flag('readings', '20000'));
const KEY = `bench-reader-${randomBytes(12).toString('hex')}`;
const say = (m: string) => process.stderr.write(`[score-load] ${m}\n`);
const children: ChildProcess[] = [];

async function main(): Promise<void> {
  await initBackend();
  const dir = await mkdtemp(path.join(tmpdir(), 'ganf-score-load-'));
  const modelsRoot = path.join(dir, 'models');
  const dataDir = path.join(dir, 'data');
  const config = parseConfig(applyOverrides(loadConfigFile('config/grid.json'), { 'train.maxSteps': 60, 'train.evalEvery': 20 }));
  const csv = csvOptionsOf(config.data);
  say('training the model');
  const { detector } = await fitDetector(sliceRows(await readCsvFile('fixtures/grid/train.csv', csv), 0, 2880), config);
  const reg = await ModelRegistry.open(modelsRoot);
  await reg.addDetector(detector, { origin: { kind: 'import', by: 'bench' }, evaluation: null });
  await reg.promote(detector.modelVersion, { by: 'bench' });
  reg.dispose();
  const store = new JsonlAlertStore(path.join(dataDir, 'alerts'), { sync: false });
  for (let i = 0; i < 5000; i++) ingestAlert(store, sampleAlert(i));
  store.close();
  await writeFile(path.join(dir, 'api.json'), JSON.stringify({
    host: '127.0.0.1', port: 0, dataDir, modelsRoot, scoreBodyLimitBytes: 16 << 20,
    auth: { keys: [{ name: 'bench', role: 'reader', env: 'GANF_API_BENCH_KEY' }] },
    rateLimits: { score: { max: 1_000_000, timeWindowMs: 60_000 }, scores: { max: 1_000_000, timeWindowMs: 60_000 } },
  }));
  const api = await startChild(children, 'ganf api', ['api', '--config', path.join(dir, 'api.json')], { GANF_API_BENCH_KEY: KEY }, /listening on (http:\/\/127\.0\.0\.1:\d+)/);
  const base = api.match![1];
  const headers = { authorization: `Bearer ${KEY}` };

  const test = selectSensors(await readCsvFile('fixtures/grid/test.csv', csv), detector.sensors);
  const K = test.sensors.length;
  const n = test.timestamps.length;
  const body = JSON.stringify({
    readings: Array.from({ length: READINGS }, (_, i) => ({ timestamp: test.timestamps[0] + i * 300_000, values: Object.fromEntries(test.sensors.map((s, k) => [s, test.values[(i % n) * K + k]])) })),
  });
  const alerts = () => autocannon({
    url: `${base}/alerts?limit=50&status=firing`, headers, connections: 4, overallRate: ALERTS_RATE, duration: SECONDS,
  });
  say('warm-up');
  await (await fetch(`${base}/score`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body })).arrayBuffer();
  await autocannon({ url: `${base}/alerts?limit=50`, headers, connections: 2, duration: 2 });

  say(`GET /alerts alone at ${ALERTS_RATE}/s for ${SECONDS} s`);
  const alone = await alerts();
  say(`GET /alerts at ${ALERTS_RATE}/s while ${SCORERS} clients post ${READINGS}-reading /score requests`);
  let stop = false;
  const scores: Array<{ status: number; ms: number }> = [];
  const scorer = async () => {
    while (!stop) {
      const t = performance.now();
      const r = await fetch(`${base}/score`, { method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body });
      await r.arrayBuffer();
      scores.push({ status: r.status, ms: performance.now() - t });
      if (r.status === 503) await new Promise((res) => setTimeout(res, 1000)); // retry-after
    }
  };
  const running = Array.from({ length: SCORERS }, scorer);
  const loaded = await alerts();
  stop = true;
  await Promise.all(running);
  await stopChild(api.child);

  const ok = scores.filter((s) => s.status === 200).map((s) => s.ms).sort((a, b) => a - b);
  const result = {
    date: new Date().toISOString(), loadavg: loadavg(), seconds: SECONDS, alertsRate: ALERTS_RATE, scorers: SCORERS, readings: READINGS,
    alone: { p50: alone.latency.p50, p99: alone.latency.p99, max: alone.latency.max, ok: alone['2xx'], non2xx: alone.non2xx },
    underScoreLoad: { p50: loaded.latency.p50, p99: loaded.latency.p99, max: loaded.latency.max, ok: loaded['2xx'], non2xx: loaded.non2xx },
    score: { scored: ok.length, refused503: scores.filter((s) => s.status === 503).length, other: scores.filter((s) => s.status !== 200 && s.status !== 503).length, medianMs: ok[Math.floor(ok.length / 2)] ?? null },
  };
  await writeFile('bench/results/score-load.json', `${JSON.stringify(result, null, 1)}\n`);
  console.log(`| GET /alerts at ${ALERTS_RATE}/s | p50 ms | p99 ms | max ms | 2xx | non-2xx |\n|---|---|---|---|---|---|`);
  console.log(`| alone | ${alone.latency.p50} | ${alone.latency.p99} | ${alone.latency.max} | ${alone['2xx']} | ${alone.non2xx} |`);
  console.log(`| while ${SCORERS} clients post ${READINGS}-reading /score | ${loaded.latency.p50} | ${loaded.latency.p99} | ${loaded.latency.max} | ${loaded['2xx']} | ${loaded.non2xx} |`);
  console.log(`\nPOST /score: ${result.score.scored} scored (median ${Math.round(result.score.medianMs ?? 0)} ms), ${result.score.refused503} refused with 503, ${result.score.other} other; load average ${loadavg().map((x) => x.toFixed(2)).join(' ')}`);
}

main().catch((err) => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  console.error(err);
  process.exitCode = 1;
});
