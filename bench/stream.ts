// Streaming benchmark through the real broker and database (npm run services:start first):
// sustained end-to-end throughput (sensor readings per second, produce -> scored and committed),
// latency (produce -> step committed, produce -> alert committed; p50/p99) and memory of the
// `ganf serve` pipeline, at 20 and 200 sensors. The load comes from a separate producer process
// (bench/stream-producer.ts) at a fixed rate; the pipeline runs in this process, as serve does.
//   node --import tsx bench/stream.ts [--seconds 60] [--sizes 20,200] [--rate 100000]
//        [--formats snapshot,reading] [--sites 4] [--partitions 4] [--no-per-sensor]
// Writes bench/results/stream.json and prints a markdown summary.
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { PerformanceObserver } from 'node:perf_hooks';
import { initBackend, activeBackend, tf } from '../src/flow/tf.ts';
import { fitDetector, type Detector } from '../src/detector.ts';
import { parseConfig } from '../src/config.ts';
import type { SeriesTable } from '../src/data/table.ts';
import { createKafkaClient, ensureTopics } from '../src/adapters/kafka-client.ts';
import { InfluxScoreStore } from '../src/adapters/influx-store.ts';
import { KafkaPipeline, type CommitInfo } from '../src/stream/kafka-pipeline.ts';
import { KafkaSettingsSchema } from '../src/stream/config.ts';
import { ProcessorSettingsSchema } from '../src/stream/processor.ts';
import { InfluxSink, type StreamSink } from '../src/stream/sinks.ts';
import { Rng } from '../src/util/rng.ts';

const args = process.argv.slice(2);
const flag = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const SECONDS = Number(flag('seconds', '60'));
const SIZES = flag('sizes', '20,200').split(',').map(Number);
const RATE = Number(flag('rate', '100000'));
const FORMATS = flag('formats', 'snapshot').split(',') as Array<'snapshot' | 'reading'>;
const SITES = Number(flag('sites', '16'));
const PARTITIONS = Number(flag('partitions', '4'));
const PER_SENSOR = !args.includes('--no-per-sensor');
const MAX_BYTES = Number(flag('max-bytes', String(1 << 20)));
const CONCURRENCY = Number(flag('concurrency', '4'));
const BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
const INFLUX_URL = process.env.INFLUX_URL ?? 'http://127.0.0.1:8086';
const INTERVAL = 1000; // 1 Hz sensors
const ANOMALY_EVERY = 400;
const ANOMALY_LEN = 8;

/** Correlated synthetic sensors: 3 latent periodic factors + AR(1) noise; anomalies: offsets on 3 sensors. */
function synthetic(K: number, T: number, seed: number, anomalies: boolean): Float32Array {
  const rng = new Rng(seed);
  const w = Array.from({ length: K }, () => [rng.normal(), rng.normal(), rng.normal()]);
  const out = new Float32Array(T * K);
  const noise = new Float64Array(K);
  for (let t = 0; t < T; t++) {
    const f = [Math.sin((2 * Math.PI * t) / 97), Math.cos((2 * Math.PI * t) / 331), Math.sin((2 * Math.PI * t) / 1440 + 1)];
    for (let k = 0; k < K; k++) {
      noise[k] = 0.8 * noise[k] + 0.3 * rng.normal();
      out[t * K + k] = w[k][0] * f[0] + w[k][1] * f[1] + w[k][2] * f[2] + noise[k];
    }
    if (anomalies && t % ANOMALY_EVERY >= ANOMALY_EVERY - ANOMALY_LEN) for (const k of [1, Math.floor(K / 2), K - 2]) out[t * K + k] += 6;
  }
  return out;
}

function table(K: number, data: Float32Array, sensors: string[]): SeriesTable {
  const T = data.length / K;
  return { timestamps: Float64Array.from({ length: T }, (_, t) => 1.6e12 + t * INTERVAL), sensors, features: ['value'], values: data };
}

async function model(K: number, sensors: string[]): Promise<{ det: Detector; fitSeconds: number }> {
  const config = parseConfig({
    data: { intervalMs: INTERVAL },
    model: { window: 24, scoreWindow: 6, hidden: 32, condition: 32, flowHidden: 32 },
    train: { maxSteps: K > 50 ? 16 : 30, batchSize: K > 50 ? 8 : 32, evalEvery: 8, seed: 7 },
    dag: { maxParents: 4 },
    threshold: { method: 'spot', level: 1e-3, initialQuantile: 0.97 },
  });
  const t0 = performance.now();
  const { detector } = await fitDetector(table(K, synthetic(K, 2000, 1, false), sensors), config);
  return { det: detector, fitSeconds: (performance.now() - t0) / 1000 };
}

function pct(xs: Float64Array, n: number, q: number): number | null {
  if (n === 0) return null;
  const s = xs.slice(0, n).sort();
  return s[Math.min(n - 1, Math.floor(q * (n - 1) + 0.5))];
}

interface Run {
  sensors: number;
  format: string;
  sites: number;
  partitions: number;
  perSensorPoints: boolean;
  maxBytesPerPartition: number;
  concurrency: number;
  targetReadingsPerSecond: number;
  seconds: number;
  produced: { readings: number; messages: number; seconds: number; readingsPerSecond: number };
  scored: { readings: number; steps: number; readingsPerSecond: number; steadyReadingsPerSecond: number; drainSeconds: number; complete: boolean };
  latencyMs: { stepP50: number | null; stepP99: number | null; stepMax: number | null; alertP50: number | null; alertP99: number | null; alerts: number };
  memoryMb: {
    rssStart: number; rssEnd: number; rssMax: number; heapStart: number; heapEnd: number; rssSlopePerMin: number; heapSlopePerMin: number;
    /** Over the last third of the run. */
    rssSlopeLastThirdPerMin: number;
    heapTotalEnd: number; externalEnd: number; tensorsStart: number; tensorsEnd: number; tensorMbEnd: number;
    /** [seconds, rss, heapUsed, heapTotal, external] */
    samples: number[][];
  };
  pipeline: KafkaPipeline['stats'];
  modelFitSeconds: number;
  /** Readings scored and committed per wall-clock second since the producer started. */
  timeline: number[];
  /** Per second: [worst step latency ms, slowest InfluxDB write ms, GC pause ms] (what a stall coincides with). */
  stalls: number[][];
  /** 1-minute load average before and after the run (other processes on the machine skew the numbers). */
  loadAverage: { before: number; after: number };
}

function slope(points: Array<[number, number]>): number {
  const n = points.length;
  if (n < 3) return 0;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den > 0 ? num / den : 0;
}

async function runOne(K: number, format: 'snapshot' | 'reading', det: Detector, fitSeconds: number, sensors: string[]): Promise<Run> {
  const id = `${Date.now().toString(36)}${randomBytes(2).toString('hex')}`;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'ganf-bench-stream-'));
  const client = createKafkaClient({ brokers: BROKERS, clientId: `ganf-bench-${id}`, logLevel: 'nothing' });
  const kafka = KafkaSettingsSchema.parse({
    brokers: BROKERS, groupId: `ganf-bench-${id}`, inputTopic: `ganf-bench-in-${id}`, alertsTopic: `ganf-bench-alerts-${id}`,
    deadLetterTopic: `ganf-bench-dlq-${id}`, stateTopic: `ganf-bench-state-${id}`, stepsTopic: `ganf-bench-steps-${id}`, partitions: PARTITIONS, logLevel: 'nothing',
    maxBytesPerPartition: MAX_BYTES, concurrency: CONCURRENCY,
  });
  const admin = await client.admin();
  await ensureTopics(admin, [{ topic: kafka.inputTopic, partitions: PARTITIONS }]);
  await admin.close();
  const store = new InfluxScoreStore({ url: INFLUX_URL, database: `ganf_bench_${id}` });
  await store.ping();
  const stepsPerSite = Math.ceil((RATE / K) * SECONDS / SITES) + 10;
  const data = synthetic(K, stepsPerSite, 2, true);
  const dataFile = path.join(dir, 'data.f32');
  await writeFile(dataFile, Buffer.from(data.buffer));
  const startMs = Date.now() - (stepsPerSite + 10) * INTERVAL;
  const sites = Array.from({ length: SITES }, (_, i) => `site-${i}`);
  const metaFile = path.join(dir, 'meta.json');
  await writeFile(metaFile, JSON.stringify({ brokers: BROKERS, topic: kafka.inputTopic, sites, sensors, intervalMs: INTERVAL, startMs, rate: RATE, seconds: SECONDS, format, dataFile, rows: stepsPerSite }));

  const cap = Math.ceil((RATE / K) * SECONDS) + 1000;
  const stepLat = new Float64Array(cap);
  let nStep = 0;
  const alertLat: number[] = [];
  let scoredSteps = 0;
  const perSecond = new Map<number, number>();
  const worst = new Map<number, [number, number, number]>();
  const bump = (sec: number, i: 0 | 1 | 2, v: number, add = false) => {
    const w = worst.get(sec) ?? [0, 0, 0];
    w[i] = add ? w[i] + v : Math.max(w[i], v);
    worst.set(sec, w);
  };
  let t0 = 0;
  const onCommit = (c: CommitInfo) => {
    const sec0 = Math.floor((c.committedAtMs - t0) / 1000);
    for (const s of c.steps) {
      if (nStep < cap && Number.isFinite(s.lastArrivalMs)) {
        stepLat[nStep++] = c.committedAtMs - s.lastArrivalMs;
        bump(sec0, 0, c.committedAtMs - s.lastArrivalMs);
      }
    }
    for (const a of c.alerts) if (a.alert.status === 'firing' && a.step && Number.isFinite(a.step.lastArrivalMs)) alertLat.push(c.committedAtMs - a.step.lastArrivalMs);
    scoredSteps += c.steps.length;
    const sec = Math.floor((c.committedAtMs - t0) / 1000);
    perSecond.set(sec, (perSecond.get(sec) ?? 0) + c.steps.length * K);
  };
  const influx = new InfluxSink(store, { perSensor: PER_SENSOR });
  const sink: StreamSink = {
    name: influx.name,
    async write(out) {
      const start = Date.now();
      await influx.write(out);
      bump(Math.floor((start - t0) / 1000), 1, Date.now() - start);
    },
    close: () => influx.close(),
  };
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) bump(Math.floor((performance.timeOrigin + e.startTime - t0) / 1000), 2, e.duration, true);
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  const pipeline = new KafkaPipeline({
    client, detector: det, kafka, processing: ProcessorSettingsSchema.parse({}), sinks: [sink], onCommit,
  });
  await pipeline.start();
  // Wait for the assignment and the (empty) restore before starting the clock.
  while (pipeline.assignment.length === 0) await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 2000));
  global.gc?.();
  const mem: Array<{ t: number; rss: number; heap: number; heapTotal: number; external: number; tensors: number; tfBytes: number }> = [];
  const loadBefore = os.loadavg()[0];
  t0 = Date.now();
  const tPerf = performance.now();
  const sample = () => {
    const m = process.memoryUsage();
    const t = tf.memory();
    mem.push({ t: (performance.now() - tPerf) / 1000, rss: m.rss / 2 ** 20, heap: m.heapUsed / 2 ** 20, heapTotal: m.heapTotal / 2 ** 20, external: m.external / 2 ** 20, tensors: t.numTensors, tfBytes: t.numBytes / 2 ** 20 });
  };
  sample();
  const timer = setInterval(sample, 2000);
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/stream-producer.ts', metaFile], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, GANF_QUIET_BACKEND: '1' } });
  let out = '';
  child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
  await new Promise<void>((resolve, reject) => child.on('exit', (code) => (code === 0 ? resolve() : reject(new Error(`producer exited with ${code}`)))));
  const produced = JSON.parse(out.trim().split('\n').pop()!) as { steps: number; messages: number; readings: number; seconds: number; readingsPerSecond: number };
  const producedAt = performance.now();
  const deadline = producedAt + 120_000;
  while (scoredSteps < produced.steps && performance.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const end = performance.now();
  clearInterval(timer);
  gcObserver.disconnect();
  sample();
  await pipeline.stop();
  await store.dropDatabase().catch(() => {});
  const admin2 = await client.admin();
  await admin2.deleteTopics([kafka.inputTopic, kafka.alertsTopic, kafka.deadLetterTopic, kafka.stateTopic, kafka.stepsTopic!]).catch(() => {});
  await admin2.close();

  const totalSeconds = (end - tPerf) / 1000;
  // Steady state: whole seconds between 5 s in and the end of production.
  const prodEnd = Math.floor((producedAt - tPerf) / 1000);
  let steadySum = 0;
  for (let sec = 5; sec < prodEnd; sec++) steadySum += perSecond.get(sec) ?? 0;
  const steady = prodEnd > 5 ? steadySum / (prodEnd - 5) : 0;
  const half = mem.filter((m) => m.t >= SECONDS / 3);
  const r2 = (v: number) => Math.round(v * 100) / 100;
  return {
    sensors: K, format, sites: SITES, partitions: PARTITIONS, perSensorPoints: PER_SENSOR, maxBytesPerPartition: MAX_BYTES, concurrency: CONCURRENCY, targetReadingsPerSecond: RATE, seconds: SECONDS,
    produced: { readings: produced.readings, messages: produced.messages, seconds: r2(produced.seconds), readingsPerSecond: Math.round(produced.readingsPerSecond) },
    scored: {
      readings: scoredSteps * K, steps: scoredSteps, readingsPerSecond: Math.round((scoredSteps * K) / totalSeconds), steadyReadingsPerSecond: Math.round(steady),
      drainSeconds: r2((end - producedAt) / 1000), complete: scoredSteps >= produced.steps,
    },
    latencyMs: {
      stepP50: pct(stepLat, nStep, 0.5), stepP99: pct(stepLat, nStep, 0.99), stepMax: pct(stepLat, nStep, 1),
      alertP50: pct(Float64Array.from(alertLat), alertLat.length, 0.5), alertP99: pct(Float64Array.from(alertLat), alertLat.length, 0.99), alerts: alertLat.length,
    },
    memoryMb: {
      rssStart: r2(mem[0].rss), rssEnd: r2(mem[mem.length - 1].rss), rssMax: r2(Math.max(...mem.map((m) => m.rss))),
      heapStart: r2(mem[0].heap), heapEnd: r2(mem[mem.length - 1].heap),
      rssSlopePerMin: r2(slope(half.map((m) => [m.t / 60, m.rss]))), heapSlopePerMin: r2(slope(half.map((m) => [m.t / 60, m.heap]))),
      rssSlopeLastThirdPerMin: r2(slope(mem.filter((m) => m.t >= (2 * SECONDS) / 3).map((m) => [m.t / 60, m.rss]))),
      heapTotalEnd: r2(mem[mem.length - 1].heapTotal), externalEnd: r2(mem[mem.length - 1].external),
      tensorsStart: mem[0].tensors, tensorsEnd: mem[mem.length - 1].tensors, tensorMbEnd: r2(mem[mem.length - 1].tfBytes),
      samples: mem.map((m) => [Math.round(m.t), Math.round(m.rss), Math.round(m.heap), Math.round(m.heapTotal), Math.round(m.external)]),
    },
    pipeline: { ...pipeline.stats, ms: { ...pipeline.stats.ms } },
    modelFitSeconds: r2(fitSeconds),
    loadAverage: { before: r2(loadBefore), after: r2(os.loadavg()[0]) },
    timeline: Array.from({ length: Math.max(0, ...perSecond.keys()) + 1 }, (_, i) => perSecond.get(i) ?? 0),
    stalls: Array.from({ length: Math.max(0, ...worst.keys()) + 1 }, (_, i) => (worst.get(i) ?? [0, 0, 0]).map(Math.round)),
  };
}

await initBackend();
const runs: Run[] = [];
for (const K of SIZES) {
  const sensors = Array.from({ length: K }, (_, k) => `s${String(k).padStart(3, '0')}`);
  const { det, fitSeconds } = await model(K, sensors);
  for (const format of FORMATS) {
    process.stderr.write(`[bench] K=${K} ${format}: ${RATE} readings/s for ${SECONDS} s over ${SITES} sites / ${PARTITIONS} partitions ...\n`);
    const r = await runOne(K, format, det, fitSeconds, sensors);
    process.stderr.write(`[bench]   scored ${r.scored.readingsPerSecond} readings/s (steady ${r.scored.steadyReadingsPerSecond}), step p99 ${r.latencyMs.stepP99} ms, alert p99 ${r.latencyMs.alertP99} ms, rss ${r.memoryMb.rssStart} -> ${r.memoryMb.rssEnd} MB\n`);
    runs.push(r);
  }
  det.model.dispose();
}

const f = (v: number | null) => (v === null ? 'n/a' : String(Math.round(v)));
const md = [
  `## Streaming end to end (Kafka ${BROKERS.join(',')} -> ganf serve pipeline -> InfluxDB + alerts topic)`,
  '',
  `_${new Date().toISOString()}, ${os.cpus().length} x ${os.cpus()[0]?.model ?? 'cpu'}, backend ${activeBackend()}, ${process.version}; ${SECONDS} s per run at a target of ${RATE} readings/s, ` +
    `${SITES} sites on ${PARTITIONS} partitions, hidden 32, per-sensor points ${PER_SENSOR ? 'on' : 'off'}, max ${MAX_BYTES} bytes per partition fetch, concurrency ${CONCURRENCY}_`,
  '',
  '| sensors | message | produced readings/s | scored readings/s (steady) | drain after produce (s) | step latency p50 / p99 / max (ms) | alert latency p50 / p99 (ms), n | RSS start -> end (max) MB | RSS slope MB/min (last third) | heap start -> end MB | load avg |',
  '|---|---|---|---|---|---|---|---|---|---|---|',
  ...runs.map((r) => `| ${r.sensors} | ${r.format} | ${r.produced.readingsPerSecond} | ${r.scored.readingsPerSecond} (${r.scored.steadyReadingsPerSecond}) | ${r.scored.drainSeconds}${r.scored.complete ? '' : ' (incomplete)'} | ` +
    `${f(r.latencyMs.stepP50)} / ${f(r.latencyMs.stepP99)} / ${f(r.latencyMs.stepMax)} | ${f(r.latencyMs.alertP50)} / ${f(r.latencyMs.alertP99)}, ${r.latencyMs.alerts} | ` +
    `${f(r.memoryMb.rssStart)} -> ${f(r.memoryMb.rssEnd)} (${f(r.memoryMb.rssMax)}) | ${r.memoryMb.rssSlopeLastThirdPerMin} | ${f(r.memoryMb.heapStart)} -> ${f(r.memoryMb.heapEnd)} | ${r.loadAverage.before} / ${r.loadAverage.after} |`),
  '',
];
await mkdir('bench/results', { recursive: true });
const file = 'bench/results/stream.json';
const previous = await readFile(file, 'utf8').then((t) => JSON.parse(t) as { runs: Run[] }, () => ({ runs: [] as Run[] }));
const key = (r: Run) => `${r.sensors}/${r.format}/${r.targetReadingsPerSecond}/${r.seconds}/${r.perSensorPoints}/${r.maxBytesPerPartition}/${r.concurrency}/${r.sites}`;
const merged = [...previous.runs.filter((p) => !runs.some((r) => key(r) === key(p))), ...runs];
await writeFile(file, JSON.stringify({ date: new Date().toISOString(), machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, memGb: Math.round(os.totalmem() / 2 ** 30) }, backend: activeBackend(), node: process.version, runs: merged, markdown: md }, null, 2) + '\n');
console.log(md.join('\n'));
