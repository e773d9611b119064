// `ganf serve` and `ganf replay`: I/O around src/stream. No model math here.
import { access } from 'node:fs/promises';
import path from 'node:path';
import { initBackend } from '../flow/tf.ts';
import { readCsvFile } from '../adapters/csv-file.ts';
import { tableLength, type SeriesTable } from '../data/table.ts';
import { createKafkaClient, ensureTopics } from '../adapters/kafka-client.ts';
import { InfluxScoreStore } from '../adapters/influx-store.ts';
import { fitDetector, loadDetector, saveDetector, type Detector } from '../detector.ts';
import { applyOverrides, csvOptionsOf, loadConfigFile, parseConfig } from '../config.ts';
import { loadStreamConfig, parseStreamConfig, type StreamConfig } from '../stream/config.ts';
import { KafkaPipeline } from '../stream/kafka-pipeline.ts';
import { FixedModel, RegistryFollower, type ModelSource } from '../stream/models.ts';
import { runInProcess } from '../stream/in-process.ts';
import { replayTable, readProgress, retryingSend, writeProgress } from '../stream/replay.ts';
import { FileSink, InfluxSink, LogSink, type StreamSink } from '../stream/sinks.ts';
import { StreamMetrics } from '../stream/metrics.ts';
import { serveLogger } from '../stream/log.ts';
import { alertId, type Alert } from '../scoring/alert.ts';
import type { Logger } from 'pino';

type Flags = Record<string, unknown>;
/** End-of-run reports for a person at a terminal (the in-process mode, `ganf replay`). */
const say = (msg: string) => process.stderr.write(`${msg}\n`);

function streamConfigFromFlags(flags: Flags): StreamConfig {
  const raw = loadStreamConfig(flags.config as string | undefined);
  const brokers = typeof flags.brokers === 'string' ? flags.brokers.split(',').map((s) => s.trim()).filter(Boolean) : undefined;
  return parseStreamConfig(applyOverrides(raw, {
    model: flags.model,
    'registry.modelsRoot': flags.models,
    'kafka.brokers': brokers,
    'kafka.groupId': flags.group,
    'kafka.inputTopic': flags.topic,
    'influx.url': flags.influx,
    'source.csv': flags.csv,
    'source.site': flags.site,
    'source.speed': flags.speed,
    'source.format': flags.format,
    'source.out': flags.out,
    'metrics.port': flags.metricsPort,
  }), flags.config ? String(flags.config) : 'command-line options');
}

async function exists(p: string): Promise<boolean> {
  return access(p).then(() => true, () => false);
}

/** Loads the model; in the no-services mode, trains the grid demo model first if there is none. */
async function modelFor(config: StreamConfig): Promise<Detector> {
  if (await exists(path.join(config.model, 'manifest.json'))) return loadDetector(config.model);
  if (config.kafka) throw new Error(`no model at ${config.model} (train one with \`ganf train\` or \`ganf demo\`)`);
  const preset = 'config/grid.json';
  const trainCsv = 'fixtures/grid/train.csv';
  say(`no model at ${config.model}: training one on ${trainCsv} with ${preset} first (as \`ganf demo\` does; about 2 minutes)`);
  const c = parseConfig(loadConfigFile(preset), preset);
  const csv = csvOptionsOf(c.data);
  const { detector } = await fitDetector(await readCsvFile(trainCsv, csv), c, say);
  await saveDetector(detector, config.model);
  say(`model ${detector.modelVersion} saved to ${config.model}`);
  return detector;
}

function influxSink(config: StreamConfig): InfluxSink | null {
  if (!config.influx) return null;
  const store = new InfluxScoreStore({ url: config.influx.url, database: config.influx.database, timeoutMs: config.influx.timeoutMs });
  return new InfluxSink(store, { perSensor: config.influx.perSensor });
}

/** The registry's active version (followed) or one model directory (fixed). */
async function modelSource(config: StreamConfig, log: Logger): Promise<ModelSource> {
  if (!config.registry) return new FixedModel(await modelFor(config));
  if (!config.kafka) throw new Error('registry: following the model registry needs the Kafka mode (a kafka section); the in-process source runs one --model directory');
  return RegistryFollower.open(config.registry.modelsRoot, { pollMs: config.registry.pollMs, log: (m) => log.info(m) });
}

export async function runServe(flags: Flags): Promise<void> {
  const config = streamConfigFromFlags(flags);
  const log = serveLogger();
  await initBackend();
  const models = await modelSource(config, log);
  const det = models.target().detector;
  if (det.config.model.encoder !== 'stateful') throw new Error(`model ${det.modelVersion} uses the windowed encoder; streaming needs model.encoder = "stateful"`);
  log.info({ modelVersion: det.modelVersion, sensors: det.sensors.length, intervalMs: det.config.data.intervalMs, threshold: det.threshold.value },
    `model ${det.modelVersion}: ${det.sensors.length} sensors, interval ${det.config.data.intervalMs} ms, threshold ${det.threshold.value.toFixed(3)}` +
    (config.registry ? `; following the active version in ${config.registry.modelsRoot} (every ${config.registry.pollMs} ms)` : ''));
  // Alerts at warn: they are what an operator tails the log for.
  const sinks: StreamSink[] = [new LogSink((m) => log.warn(m))];
  const influx = influxSink(config);
  if (influx) sinks.push(influx);
  const metrics = config.metrics ? new StreamMetrics() : null;
  if (metrics) sinks.push(metrics.sink());
  const server = metrics && config.metrics ? await metrics.listen(config.metrics.host, config.metrics.port) : null;
  if (server) log.info({ metricsUrl: server.url }, `metrics at ${server.url}`);
  try {
    if (config.kafka) await serveKafka(config, models, sinks, log, metrics);
    else await serveInProcess(config, det, sinks, log);
  } finally {
    models.close();
    await server?.close();
  }
}

async function serveKafka(config: StreamConfig, models: ModelSource, sinks: StreamSink[], log: Logger, metrics: StreamMetrics | null): Promise<void> {
  const k = config.kafka!;
  const client = createKafkaClient({ brokers: k.brokers, clientId: k.clientId, logLevel: k.logLevel });
  const pipeline = new KafkaPipeline({
    client, models, kafka: k, processing: config.processing, sinks, sink: config.sink, log: (m) => log.info(m),
    onFatal: (err) => {
      // Nothing uncommitted is lost (the next start resumes from the checkpoint): exit so a supervisor restarts us.
      log.fatal({ err }, `fatal: ${err.message}; exiting`);
      process.exit(1);
    },
  });
  metrics?.watchPipeline(() => pipeline.stats, () => pipeline.assignment);
  let stopped!: () => void;
  const done = new Promise<void>((resolve) => { stopped = resolve; });
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals > 1) {
      log.warn(`${sig} again: exiting without waiting`);
      process.exit(130);
    }
    log.info(`${sig}: finishing the batch in progress, committing and leaving the group`);
    pipeline.stop().then(() => {
      log.info({ ...pipeline.stats }, `stopped cleanly after ${pipeline.stats.batches} batches (${pipeline.stats.steps} steps, ${pipeline.stats.alerts} alert notifications, ${pipeline.stats.deadLetters} dead letters)`);
      stopped();
    }, (err: Error) => {
      log.error({ err }, `error while stopping: ${err.message}`);
      process.exitCode = 1;
      stopped();
    });
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  await pipeline.start();
  log.info({ inputTopic: k.inputTopic, groupId: k.groupId }, `consuming ${k.inputTopic} as group ${k.groupId} on ${k.brokers.join(',')}; alerts -> ${k.alertsTopic}, dead letters -> ${k.deadLetterTopic}, state -> ${k.stateTopic}` +
    (k.stepsTopic ? `, steps -> ${k.stepsTopic}` : '') +
    (config.influx ? `, scores -> ${config.influx.url}/${config.influx.database}` : ''));
  const timer = setInterval(() => {
    const s = pipeline.stats;
    log.info({ messages: s.messages, steps: s.steps, alerts: s.alerts, deadLetters: s.deadLetters, batches: s.batches, partitions: pipeline.assignment }, `progress: ${s.messages} messages, ${s.steps} steps, ${s.alerts} alert notifications, ${s.deadLetters} dead letters, ${s.batches} batches; partitions [${pipeline.assignment.join(', ')}]`);
  }, config.statsIntervalMs);
  try {
    await done;
  } finally {
    clearInterval(timer);
  }
}

async function serveInProcess(config: StreamConfig, det: Detector, sinks: StreamSink[], log: Logger): Promise<void> {
  const src = config.source;
  const csv = csvOptionsOf(det.config.data);
  const table = await readCsvFile(src.csv, csv);
  const files = new FileSink(src.out);
  const ac = new AbortController();
  const onSignal = () => {
    log.info('stopping the replay');
    ac.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  log.info(`no broker configured: replaying ${src.csv} (${tableLength(table)} steps, site "${src.site}", ${src.format} messages, ` +
    `${src.speed ? `${src.speed}x real time` : 'as fast as possible'}) through the in-process source`);
  const summary = await runInProcess({
    detector: det, table, site: src.site, format: src.format, speed: src.speed, processing: config.processing,
    sinks: [...sinks, files], signal: ac.signal, log: (m) => log.info(m), statsIntervalMs: config.statsIntervalMs,
  });
  const fired = summary.alerts.filter((a) => a.status === 'firing');
  const unknown = summary.stats.flatMap((s) => Object.entries(s.unknown).map(([k, v]) => `${k} (${v})`));
  say(`\n${summary.steps} steps scored from ${summary.messages} messages in ${summary.seconds.toFixed(1)} s ` +
    `(${Math.round(summary.messages / summary.seconds)} messages/s); ${summary.degradedSteps} degraded steps, ${summary.rejected} rejected messages` +
    (unknown.length ? `, readings for unknown sensors: ${unknown.join(', ')}` : ''));
  say(`${fired.length} alerts; wrote ${files.scoresFile} and ${files.alertsFile}`);
  for (const line of labelReport(table, summary.alerts)) say(line);
}

/** How the alerts line up with the table's labelled intervals (when it has labels). */
function labelReport(table: SeriesTable, alerts: Alert[]): string[] {
  if (!table.labels) return [];
  const events: Array<{ start: number; end: number }> = [];
  const T = tableLength(table);
  for (let t = 0; t < T; t++) {
    if (table.labels[t] && (t === 0 || !table.labels[t - 1])) events.push({ start: table.timestamps[t], end: table.timestamps[t] });
    if (table.labels[t]) events[events.length - 1].end = table.timestamps[t];
  }
  const byId = new Map<string, Alert>();
  for (const a of alerts) byId.set(alertId(a), a); // the last notification (resolved if it resolved)
  const spans = [...byId.values()].map((a) => ({ start: Date.parse(a.startsAt), end: a.endsAt === null ? Infinity : Date.parse(a.endsAt) }));
  const interval = T > 1 ? (table.timestamps[T - 1] - table.timestamps[0]) / (T - 1) : 0;
  const overlaps = (s: { start: number; end: number }, e: { start: number; end: number }) => s.start <= e.end + interval && s.end >= e.start;
  const detected = events.filter((e) => spans.some((s) => overlaps(s, e))).length;
  const matched = spans.filter((s) => events.some((e) => overlaps(s, e))).length;
  return [`labelled anomalies with an alert: ${detected}/${events.length}; alerts overlapping a labelled anomaly: ${matched}/${spans.length}`];
}

export async function runReplay(flags: Flags): Promise<void> {
  const config = flags.config ? parseStreamConfig(loadStreamConfig(String(flags.config)), String(flags.config)) : undefined;
  const brokers = typeof flags.brokers === 'string'
    ? flags.brokers.split(',').map((s) => s.trim()).filter(Boolean)
    : config?.kafka?.brokers ?? ['127.0.0.1:9092'];
  const topic = String(flags.topic ?? config?.kafka?.inputTopic ?? '');
  if (!topic) throw new Error('replay needs --topic (or a --config with kafka.inputTopic)');
  const table = await readCsvFile(String(flags.csv), { intervalMs: Number(flags.intervalMs ?? 300000) });
  const speed = Number(flags.speed ?? 0);
  const rate = flags.rate !== undefined ? Number(flags.rate) : undefined;
  if (!(speed >= 0) || (rate !== undefined && !(rate > 0))) throw new Error('--speed must be >= 0 and --rate > 0');
  const format = String(flags.format ?? 'reading');
  if (format !== 'reading' && format !== 'snapshot') throw new Error('--format must be reading or snapshot');
  const client = createKafkaClient({ brokers, clientId: 'ganf-replay', logLevel: 'error' });
  if (flags.partitions !== undefined) {
    const admin = await client.admin();
    try {
      await ensureTopics(admin, [{ topic, partitions: Number(flags.partitions) }]);
    } finally {
      await admin.close();
    }
  }
  const site = String(flags.site ?? 'demo');
  const progressFile = flags.progress === undefined ? undefined : String(flags.progress);
  let fromRow = flags.fromRow === undefined ? 0 : Number(flags.fromRow);
  if (flags.resume) {
    if (!progressFile) throw new Error('--resume needs --progress FILE');
    const p = readProgress(progressFile);
    if (p && (p.topic !== topic || p.site !== site || p.csv !== String(flags.csv))) {
      throw new Error(`${progressFile} is the progress of ${p.csv} -> ${p.topic} (site ${p.site}), not of this replay`);
    }
    fromRow = p?.nextRow ?? 0;
  }
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  process.once('SIGTERM', () => ac.abort());
  const retryForMs = Number(flags.retryFor ?? 600) * 1000;
  if (!(retryForMs >= 0)) throw new Error('--retry-for must be a number of seconds >= 0');
  const sender = retryingSend(() => client.producer(), topic, { retryForMs, log: say, signal: ac.signal });
  try {
    say(`replaying ${flags.csv} (${tableLength(table)} rows x ${table.sensors.length} sensors${fromRow ? `, from row ${fromRow}` : ''}) to ${topic} on ${brokers.join(',')} as site "${site}", ` +
      `${rate ? `${rate} readings/s` : speed ? `${speed}x real time` : 'as fast as possible'}`);
    let lastLog = performance.now();
    const r = await replayTable(table, sender.send, {
      site, format, speed, rate, signal: ac.signal, fromRow,
      startAtMs: flags.rebase ? Date.now() : undefined,
    }, async (row, messages) => {
      // Written after the broker acknowledged the rows: a resumed replay repeats nothing acknowledged.
      if (progressFile) await writeProgress(progressFile, { csv: String(flags.csv), topic, site, nextRow: row });
      if (performance.now() - lastLog > 5000) {
        lastLog = performance.now();
        say(`  ${row} rows, ${messages} messages`);
      }
    });
    say(`sent ${r.messages} messages (${r.rows} rows) in ${r.seconds.toFixed(1)} s (${Math.round(r.messages / Math.max(r.seconds, 1e-9))} messages/s)`);
  } catch (err) {
    if (progressFile) say(`stopped; resume with --progress ${progressFile} --resume`);
    throw err;
  } finally {
    await sender.close();
  }
}
