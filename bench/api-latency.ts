// API latency under concurrent load on 127.0.0.1 (autocannon), while the stream runs.
//
//   npm run services:start            # Kafka and InfluxDB on 127.0.0.1
//   node --import tsx bench/api-latency.ts [--seconds 10] [--connections 8] [--rate 20] [--alerts 5000] [--batch 32]
//        [--alerts-rate 200] [--score-rate 10]   (offered requests/s; 0 = saturate)
//
// Setup: a grid model (the preset's sizes, short training) is put in a fresh model registry; the
// alert store is pre-filled with --alerts alerts; `ganf api` runs as its own process (alerts-topic
// consumer on, fsync on). The stream is the real pipeline: `ganf serve` (issue 3) consumes readings
// that `ganf replay` produces at --rate steps/s (x sensors readings/s) from fixtures/grid/test.csv, scores them with the
// same model version, writes scores to InfluxDB and alerts to the alerts topic the API consumes.
// Then autocannon drives GET /alerts?limit=50 and POST /score (--batch readings per request) with
// --connections concurrent connections at a fixed offered rate, each for --seconds (after a 2 s
// unrecorded warm-up), first with the stream stopped (baseline) and then with it running.
// Writes bench/out/api-latency.json and prints a markdown table.
import type { ChildProcess } from 'node:child_process';
import { startChild, stopChild as stop } from './child.ts';
import { createRequire } from 'node:module';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { initBackend, activeBackend } from '../src/flow/tf.ts';
import { readCsvFile } from '../src/adapters/csv-file.ts';
import { sliceRows } from '../src/data/table.ts';
import { fitDetector } from '../src/detector.ts';
import { applyOverrides, csvOptionsOf, loadConfigFile, parseConfig } from '../src/config.ts';
import { InfluxScoreStore } from '../src/adapters/influx-store.ts';
import { ModelRegistry } from '../src/api/models/registry.ts';
import { JsonlAlertStore } from '../src/api/alerts/store.ts';
import { ingestAlert } from '../src/api/alerts/ingest.ts';
import { sampleAlert } from '../test/helpers/api.ts';

interface AutocannonResult {
  latency: { p50: number; p90: number; p99: number; average: number; max: number };
  requests: { average: number; total: number };
  non2xx: number;
  errors: number;
  '2xx': number;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const args = process.argv.slice(2);
const flag = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const SECONDS = Number(flag('seconds', '10'));
const CONNECTIONS = Number(flag('connections', '8'));
const RATE = Number(flag('rate', '20'));
const ALERTS = Number(flag('alerts', '5000'));
const BATCH = Number(flag('batch', '32'));
/** Offered load (requests/s over all connections); 0 = as fast as the server answers (saturation). */
const ALERTS_RATE = Number(flag('alerts-rate', '200'));
const SCORE_RATE = Number(flag('score-rate', '10'));
const BROKERS = process.env.KAFKA_BROKERS ?? '127.0.0.1:9092';
const INFLUX_URL = process.env.INFLUX_URL ?? 'http://127.0.0.1:8086';
const RUN = `${Date.now()}-${randomBytes(3).toString('hex')}`;
const KEY = `bench-reader-${randomBytes(12).toString('hex')}`;
const say = (m: string) => process.stderr.write(`[api-bench] ${m}\n`);

const children: ChildProcess[] = [];
const start = (name: string, argv: string[], ready?: RegExp) => startChild(children, name, argv, { GANF_API_BENCH_KEY: KEY }, ready);

async function main(): Promise<void> {
  await initBackend();
  const dir = await mkdtemp(path.join(tmpdir(), 'ganf-api-bench-'));
  const modelsRoot = path.join(dir, 'models');
  const dataDir = path.join(dir, 'data');

  // 1. A model with the preset's sizes (short training: latency, not accuracy, is measured).
  const config = parseConfig(applyOverrides(loadConfigFile('config/grid.json'), { 'train.maxSteps': 60, 'train.evalEvery': 20 }));
  const csv = csvOptionsOf(config.data);
  const train = await readCsvFile('fixtures/grid/train.csv', csv);
  say('training the model');
  const { detector } = await fitDetector(sliceRows(train, 0, 2880), config);
  const reg = await ModelRegistry.open(modelsRoot);
  await reg.addDetector(detector, { origin: { kind: 'import', by: 'bench' }, evaluation: null });
  await reg.promote(detector.modelVersion, { by: 'bench' });
  reg.dispose();
  const modelDir = path.join(modelsRoot, 'versions', detector.modelVersion);

  // 2. Pre-filled alert store.
  const store = new JsonlAlertStore(path.join(dataDir, 'alerts'), { sync: false });
  for (let i = 0; i < ALERTS; i++) ingestAlert(store, sampleAlert(i, i % 3 === 0 ? { endsAt: new Date(Date.UTC(2024, 0, 11) + i * 3_600_000 + 900_000).toISOString() } : {}));
  store.close();

  // 3. The API as its own process.
  const topics = { alerts: `ganf.alerts.bench-${RUN}`, readings: `ganf.readings.bench-${RUN}` };
  const apiConfig = {
    host: '127.0.0.1', port: 0, dataDir, modelsRoot,
    auth: { keys: [{ name: 'bench', role: 'reader', env: 'GANF_API_BENCH_KEY' }] },
    rateLimits: { score: { max: 1_000_000, timeWindowMs: 60_000 } },
    scoreBodyLimitBytes: 16 << 20,
    kafka: { brokers: BROKERS.split(','), alertsTopic: topics.alerts, deadLetterTopic: `${topics.alerts}.dlq`, groupId: `api-bench-${RUN}`, lagGroups: [{ groupId: `stream-bench-${RUN}`, topic: topics.readings }] },
    influx: { url: INFLUX_URL, database: `ganf_bench_${RUN.replace(/-/g, '_')}` },
  };
  await writeFile(path.join(dir, 'api.json'), JSON.stringify(apiConfig, null, 1));
  const api = await start('ganf api', ['api', '--config', path.join(dir, 'api.json')], /listening on (http:\/\/127\.0\.0\.1:\d+)/);
  const base = api.match![1];
  say(`API at ${base}`);

  // 4. The stream: ganf serve + ganf replay.
  const streamConfig = {
    model: modelDir,
    kafka: {
      brokers: BROKERS.split(','), clientId: `bench-serve-${RUN}`, groupId: `stream-bench-${RUN}`, inputTopic: topics.readings,
      alertsTopic: topics.alerts, deadLetterTopic: `${topics.readings}.dlq`, stateTopic: `ganf.state.bench-${RUN}`, stepsTopic: null, partitions: 1, fromBeginning: true,
    },
    influx: { url: INFLUX_URL, database: apiConfig.influx.database, perSensor: true },
    processing: { maxFutureMs: 300000 },
    statsIntervalMs: 2000,
  };
  await writeFile(path.join(dir, 'stream.json'), JSON.stringify(streamConfig, null, 1));

  const headers = { authorization: `Bearer ${KEY}` };
  const test = await readCsvFile('fixtures/grid/test.csv', csv);
  const rows = sliceRows(test, 0, BATCH);
  const K = rows.sensors.length;
  const body = JSON.stringify({
    readings: Array.from(rows.timestamps, (t, i) => ({ timestamp: t, values: Object.fromEntries(rows.sensors.map((s, k) => [s, rows.values[i * K + k]])) })),
    warmStart: true,
  });

  const runLoad = async (label: string) => {
    const out: Record<string, unknown> = {};
    for (const [name, opts] of [
      ['GET /alerts?limit=50', { url: `${base}/alerts?limit=50&status=firing`, method: 'GET', headers }],
      [`POST /score (${BATCH} readings)`, { url: `${base}/score`, method: 'POST', headers: { ...headers, 'content-type': 'application/json' }, body }],
    ] as const) {
      const rate = name.startsWith('GET') ? ALERTS_RATE : SCORE_RATE;
      await autocannon({ ...opts, connections: CONNECTIONS, duration: 2, ...(rate ? { overallRate: rate } : {}) });
      const r = await autocannon({ ...opts, connections: CONNECTIONS, duration: SECONDS, ...(rate ? { overallRate: rate } : {}) });
      out[name] = { offeredRate: rate || 'saturate', p50Ms: r.latency.p50, p90Ms: r.latency.p90, p99Ms: r.latency.p99, meanMs: Number(r.latency.average.toFixed(2)), maxMs: r.latency.max, requestsPerSecond: Number(r.requests.average.toFixed(1)), requests: r.requests.total, non2xx: r.non2xx, errors: r.errors };
      say(`${label} ${name}: p50 ${r.latency.p50} ms, p99 ${r.latency.p99} ms, ${r.requests.average.toFixed(0)} req/s, non2xx ${r.non2xx}, errors ${r.errors}`);
      if (r.non2xx || r.errors) throw new Error(`${name}: ${r.non2xx} non-2xx answers, ${r.errors} errors`);
    }
    return out;
  };

  const idle = await runLoad('stream stopped');

  const serve = await start('ganf serve', ['serve', '--config', path.join(dir, 'stream.json')], /consuming /);
  const replay = await start('ganf replay', ['replay', '--csv', 'fixtures/grid/test.csv', '--config', path.join(dir, 'stream.json'), '--rate', String(RATE * detector.sensors.length), '--site', 'bench', '--format', 'snapshot']);
  const influx = new InfluxScoreStore({ url: INFLUX_URL, database: apiConfig.influx.database });
  const count = async (): Promise<number> => {
    try {
      const s = await influx.query('SELECT count("score") FROM "ganf_scores"');
      return Number(s[0]?.values[0]?.[1] ?? 0);
    } catch {
      return 0;
    }
  };
  // Wait until the stream is really scoring.
  const deadline = Date.now() + 120_000;
  while ((await count()) < 20) {
    if (Date.now() > deadline) throw new Error(`the stream did not start scoring:\n${serve.log.slice(-10).join('\n')}\n${replay.log.slice(-10).join('\n')}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const before = await count();
  const t0 = performance.now();
  const busy = await runLoad('stream running');
  const streamed = (await count()) - before;
  const secs = (performance.now() - t0) / 1000;
  const metrics = await (await fetch(`${base}/metrics`, { headers })).text();
  const ingested = [...metrics.matchAll(/ganf_alerts_ingested_total\{outcome="(\w+)"\} (\d+)/g)].map((m) => `${m[1]} ${m[2]}`);
  const progress = serve.log.filter((l) => l.includes('progress:')).at(-1) ?? '';
  say(`stream: ${progress}`);
  await stop(replay.child);
  await stop(serve.child);
  await stop(api.child);
  await influx.dropDatabase().catch(() => {});

  const result = {
    date: new Date().toISOString(), backend: activeBackend(), node: process.version,
    machine: { cpus: (await import('node:os')).cpus().length },
    settings: { seconds: SECONDS, connections: CONNECTIONS, replayRateStepsPerSecond: RATE, alertsInStore: ALERTS, scoreBatch: BATCH, sensors: detector.sensors.length, model: { hidden: config.model.hidden, window: config.model.window } },
    streamStopped: idle,
    streamRunning: { ...busy, stream: { stepsScoredPerSecond: Number((streamed / secs).toFixed(1)), alertsIngestedByApi: ingested, lastProgress: progress.replace(/^\[[^\]]+\] /, '') } },
  };
  await mkdir('bench/out', { recursive: true });
  await writeFile('bench/out/api-latency.json', JSON.stringify(result, null, 2));
  const rowsMd = (label: string, o: Record<string, any>) => Object.entries(o).filter(([k]) => k !== 'stream').map(([k, v]) => `| ${label} | ${k} | ${v.offeredRate} | ${v.p50Ms} | ${v.p99Ms} | ${v.requestsPerSecond} |`);
  const md = [
    `API latency, ${CONNECTIONS} connections, ${SECONDS} s per route, ${ALERTS} alerts stored, ${detector.sensors.length} sensors (${result.backend}, ${result.machine.cpus} cores)`,
    '',
    '| stream | route | offered req/s | p50 ms | p99 ms | served req/s |',
    '|---|---|---|---|---|---|',
    ...rowsMd('stopped', idle),
    ...rowsMd(`running (${result.streamRunning.stream.stepsScoredPerSecond} steps/s scored)`, busy),
  ].join('\n');
  await writeFile('bench/out/api-latency.md', md + '\n');
  console.log(md);
}

main().catch(async (err) => {
  console.error(err);
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  process.exitCode = 1;
});
