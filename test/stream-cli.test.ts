// `ganf serve` without a broker (the in-process source: no services needed) and `ganf replay`
// into the real broker, as a user runs them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { initBackend } from '../src/flow/tf.ts';
import type { Detector } from '../src/detector.ts';
import type { SeriesTable } from '../src/data/table.ts';
import { ensureTopics, type KafkaClient } from '../src/adapters/kafka-client.ts';
import { alertId, type Alert } from '../src/scoring/alert.ts';
import { savedTinyDetector, expectedAlerts, batchScores, alertKey } from './helpers/stream-fixture.ts';
import { deleteTopics, kafkaClient, readTopic, runId, waitFor, KAFKA_BROKERS } from './helpers/services.ts';
import { ProcessorSettingsSchema } from '../src/stream/processor.ts';

const run = promisify(execFile);
const CLI = ['--import', 'tsx', 'src/cli/main.ts'];
const env = { ...process.env, GANF_QUIET_BACKEND: '1' };
let det: Detector;
let table: SeriesTable;
let dir: string;
let client: KafkaClient;
const topics: string[] = [];

before(async () => {
  client = await kafkaClient('ganf-stream-cli-test');
  await initBackend();
  ({ detector: det, test: table, dir } = await savedTinyDetector('ganf-stream-cli-'));
});

after(async () => {
  await deleteTopics(client, topics);
});

test('ganf serve without a broker replays the fixture in process: scores and alerts like batch, files written', { timeout: 60_000 }, async () => {
  const out = path.join(dir, 'serve');
  const { stderr } = await run('node', [...CLI, 'serve', '--model', path.join(dir, 'model'), '--out', out, '--site', 'demo'], { env });
  assert.match(stderr, /no broker configured: replaying fixtures\/grid\/test\.csv \(1440 steps/);
  assert.match(stderr, /1440 steps scored from 38880 messages/);
  assert.match(stderr, /labelled anomalies with an alert: \d+\/9/);
  const scores = (await readFile(path.join(out, 'scores.csv'), 'utf8')).trim().split('\n');
  assert.equal(scores.length, 1441);
  const alerts = (await readFile(path.join(out, 'alerts.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as Alert);
  // Cold start (the default) with the default warm-up: the batch scores' alerts, minus those the warm-up suppresses.
  const settings = ProcessorSettingsSchema.parse({});
  const batch = batchScores(det, table, false);
  const warm = det.config.model.window;
  const expected = expectedAlerts(det, 'demo', batch, settings.alerts, (t) => t >= warm);
  assert.ok(expected.length > 0);
  assert.deepEqual(alerts.map(alertKey), expected.map(alertKey));
  for (const a of alerts) assert.match(stderr, new RegExp(`alert ${a.status.toUpperCase()} .* id=${alertId(a)} `));
});

test('ganf serve logs pino JSON lines with levels and serves Prometheus metrics on --metrics-port while it runs', { timeout: 90_000 }, async () => {
  // About 10 s of replay (1440 five-minute steps at 40,000x), long enough to scrape mid-run.
  const child = spawn('node', [...CLI, 'serve', '--model', path.join(dir, 'model'), '--out', path.join(dir, 'serve-metrics'), '--site', 'demo', '--speed', '40000', '--metrics-port', '0'], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const lines: string[] = [];
  let buf = '';
  child.stderr!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  try {
    const json = () => lines.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number; msg: string; name: string; metricsUrl?: string });
    const url = await waitFor('the metrics URL in the log', 30_000, async () => json().find((l) => l.metricsUrl)?.metricsUrl);
    const text = await waitFor('steps counted in /metrics', 30_000, async () => {
      const t = await (await fetch(url)).text();
      const m = /ganf_stream_steps_total\{site="demo"\} (\d+)/.exec(t);
      return m && Number(m[1]) > 0 ? t : null;
    });
    assert.match(text, /process_cpu_user_seconds_total \d/, 'prom-client default process metrics');
    assert.match(text, /nodejs_eventloop_lag_seconds /);
    assert.match(text, /ganf_stream_last_score\{site="demo"\} /);
    assert.match(text, /ganf_stream_drifted_sensors\{site="demo"\} \d+/);
    assert.match(text, /ganf_stream_stuck_sensors\{site="demo"\} \d+/);
    assert.equal((await fetch(url.replace('/metrics', '/other'))).status, 404);
    assert.equal(await exited, 0);
    const start = json().find((l) => l.msg.startsWith('no broker configured'));
    assert.ok(start, 'the operational lines are JSON');
    assert.equal(start.level, 30, 'info');
    assert.equal(start.name, 'ganf-serve');
    const alerts = json().filter((l) => l.msg.startsWith('alert '));
    assert.ok(alerts.length > 0 && alerts.every((l) => l.level === 40), 'alerts are logged at warn');
    assert.ok(!lines.some((l) => /^\[\d{4}-\d\d-\d\dT/.test(l)), 'no stamp lines left');
  } finally {
    child.kill();
  }
});

test('ganf serve reports a bad config value with its field path and exits 1', async () => {
  const cfg = path.join(dir, 'bad.json');
  await writeFile(cfg, JSON.stringify({ kafka: { brokers: [] }, processing: { alerts: { fireAfter: 9, ofLast: 2 } } }));
  const err = await run('node', [...CLI, 'serve', '--config', cfg], { env }).then(() => assert.fail('expected a failure'), (e: { code: number; stderr: string }) => e);
  assert.equal(err.code, 1);
  assert.match(err.stderr, /kafka\.brokers/);
  assert.match(err.stderr, /processing\.alerts\.fireAfter/);
});

test('ganf replay streams a CSV into a topic at a chosen rate, keyed by site', { timeout: 60_000 }, async () => {
  const topic = `ganf-cli-replay-${runId()}`;
  topics.push(topic);
  const started = Date.now();
  const { stderr } = await run('node', [...CLI, 'replay', '--csv', 'fixtures/grid/test.csv', '--topic', topic, '--brokers', KAFKA_BROKERS.join(','),
    '--partitions', '2', '--site', 'cli-site', '--format', 'snapshot', '--rate', '20000'], { env });
  assert.match(stderr, /sent 1440 messages \(1440 rows\)/);
  const msgs = await readTopic(client, topic);
  assert.equal(msgs.length, 1440);
  assert.ok(msgs.every((m) => m.key === 'cli-site'));
  assert.equal(new Set(msgs.map((m) => m.partition)).size, 1, 'one site stays on one partition');
  const first = JSON.parse(msgs[0].value!) as { site: string; ts: number; values: Record<string, number> };
  assert.equal(first.ts, table.timestamps[0]);
  assert.equal(Object.keys(first.values).length, table.sensors.length);
  // 1440 x 27 readings at 20000/s take about 1.9 s.
  const times = msgs.map((m) => m.timestampMs);
  assert.ok(Math.max(...times) - Math.min(...times) >= 1500, 'paced, not all at once');
  assert.ok(Date.now() - started < 50_000);
});

/** A TCP forwarder to the broker that can be started late: until then the address refuses connections. */
function lateForwarder(port: number, target: string) {
  const [host, tport] = target.split(':');
  const server = net.createServer((c) => {
    const up = net.connect({ host, port: Number(tport) });
    c.pipe(up).pipe(c);
    c.on('error', () => up.destroy());
    up.on('error', () => c.destroy());
  });
  return {
    start: () => new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r())),
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

test('ganf replay rides out an unreachable broker, and --progress/--resume continue after a kill without losing a row', { timeout: 180_000 }, async () => {
  const topic = `ganf-cli-resume-${runId()}`;
  topics.push(topic);
  const admin = await client.admin();
  await ensureTopics(admin, [{ topic, partitions: 1 }]);
  await admin.close();
  const progress = path.join(dir, `progress-${topic}.json`);
  const args = ['replay', '--csv', 'fixtures/grid/test.csv', '--topic', topic, '--site', 'resume-site', '--format', 'snapshot', '--progress', progress];

  // 1. Killed mid-way (SIGKILL: no chance to clean up) while paced at 200 rows/s, once it has
  //    recorded some progress (start-up time varies with the machine's load).
  const first = spawn('node', [...CLI, ...args, '--brokers', KAFKA_BROKERS.join(','), '--rate', String(200 * table.sensors.length)], { env, stdio: 'ignore' });
  const progressed = async () => {
    const text = await readFile(progress, 'utf8').catch(() => '');
    return text !== '' && (JSON.parse(text) as { nextRow: number }).nextRow >= 100;
  };
  const deadline = Date.now() + 60_000;
  while (!(await progressed())) {
    assert.ok(Date.now() < deadline, 'the first replay records progress');
    await new Promise((r) => setTimeout(r, 50));
  }
  first.kill('SIGKILL');
  await new Promise((r) => first.once('exit', r));
  const stopped = JSON.parse(await readFile(progress, 'utf8')) as { nextRow: number };
  assert.ok(stopped.nextRow > 0 && stopped.nextRow < 1440, `killed mid-way (at row ${stopped.nextRow})`);

  // 2. Resumed through an address where no broker answers yet; it comes up 30 s later, beyond the
  //    client library's own connection retries (kafkajs: 5, about 14 s in all), so the replay's
  //    retry has to carry it.
  const port = 20000 + Math.floor(Math.random() * 20000);
  const fwd = lateForwarder(port, KAFKA_BROKERS[0]);
  const resumed = run('node', [...CLI, ...args, '--brokers', `127.0.0.1:${port}`, '--resume', '--retry-for', '60'], { env });
  await new Promise((r) => setTimeout(r, 30_000));
  await fwd.start();
  try {
    const { stderr } = await resumed;
    assert.match(stderr, new RegExp(`from row ${stopped.nextRow}\\)`));
    assert.match(stderr, /send failed .*retrying/);
    assert.match(stderr, /broker reachable again/);
    assert.match(stderr, new RegExp(`sent ${1440 - stopped.nextRow} messages`));
  } finally {
    await fwd.close();
  }
  assert.equal((JSON.parse(await readFile(progress, 'utf8')) as { nextRow: number }).nextRow, 1440);
  // Every row is in the topic; at most the batch in flight at the kill is there twice.
  const rows = (await readTopic(client, topic)).map((m) => (JSON.parse(m.value!) as { ts: number }).ts);
  const distinct = new Set(rows);
  assert.equal(distinct.size, 1440);
  assert.deepEqual([...distinct].sort((a, b) => a - b), Array.from(table.timestamps));
  assert.ok(rows.length - distinct.size <= 500, `${rows.length - distinct.size} repeated rows`);
});
