/**
 * Hostile input through the real broker and InfluxDB: a replayed fixture interleaved with well
 * over 1,000 generated poison messages of every kind (one-byte garbage in one fetch, a ~1 MB bad
 * message, timestamps beyond 8.64e15 ms and outside InfluxDB's years, a value whose score is not
 * finite, readings far ahead of the site, wrong keys, null values, a flood of unknown sensor names).
 * Every bad one is dead-lettered once with its kind and source offset, no partition stalls (a
 * deadline on progress), every valid step is scored as batch scoring does and the alerts are those
 * of a clean run.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { initBackend } from '../src/flow/tf.ts';
import type { Detector } from '../src/detector.ts';
import { selectSensors, sliceRows, type SeriesTable } from '../src/data/table.ts';
import type { KafkaClient, OutgoingMessage } from '../src/adapters/kafka-client.ts';
import { InfluxScoreStore } from '../src/adapters/influx-store.ts';
import { parseDeadLetter } from '../src/adapters/dead-letter.ts';
import { encodeReading, encodeSnapshot } from '../src/stream/messages.ts';
import { KafkaPipeline } from '../src/stream/kafka-pipeline.ts';
import { KafkaSettingsSchema } from '../src/stream/config.ts';
import { ProcessorSettingsSchema } from '../src/stream/processor.ts';
import { InfluxSink } from '../src/stream/sinks.ts';
import type { Alert } from '../src/scoring/alert.ts';
import { tinyDetector, expectedAlerts, batchScores, alertKey } from './helpers/stream-fixture.ts';
import { deleteTopics, kafkaClient, influxStore, runId, waitFor, waitCommitted, readTopic, influxScores, INFLUX_URL, KAFKA_BROKERS } from './helpers/services.ts';

let det: Detector;
let table: SeriesTable;
let client: KafkaClient;
let store: InfluxScoreStore;
const topics: string[] = [];

before(async () => {
  client = await kafkaClient('ganf-stream-hostile');
  await influxStore('ganf_probe');
  await initBackend();
  ({ detector: det, test: table } = await tinyDetector('grid'));
});

after(async () => {
  await deleteTopics(client, topics);
  await store?.dropDatabase().catch(() => {});
});

/** The fixture's steps as snapshot messages of a site. */
function snapshots(tbl: SeriesTable, site: string): OutgoingMessage[] {
  const rows = selectSensors(tbl, det.sensors);
  const K = det.sensors.length;
  return Array.from(rows.timestamps, (ts, t) => ({ key: site, value: encodeSnapshot(site, ts, Object.fromEntries(det.sensors.map((s, k) => [s, rows.values[t * K + k]]))) }));
}

test('e2e: >1,000 poison messages of every kind are dead-lettered once while every valid step is scored; no partition stalls', { timeout: 240_000 }, async () => {
  const id = runId();
  const t = { inputTopic: `ganf-hostile-in-${id}`, alertsTopic: `ganf-hostile-alerts-${id}`, deadLetterTopic: `ganf-hostile-dlq-${id}`, stateTopic: `ganf-hostile-state-${id}`, stepsTopic: `ganf-hostile-steps-${id}` };
  topics.push(...Object.values(t));
  const kafka = KafkaSettingsSchema.parse({ brokers: KAFKA_BROKERS, groupId: `ganf-hostile-${id}`, clientId: `ganf-hostile-${id}`, partitions: 3, sessionTimeoutMs: 6000, heartbeatIntervalMs: 500, logLevel: 'nothing', ...t });
  const processing = ProcessorSettingsSchema.parse({ warmStart: true, align: { allowedLatenessMs: 600_000 }, limits: { maxUnknownSensorsPerSite: 1000 } });
  store = new InfluxScoreStore({ url: INFLUX_URL, database: `ganf_hostile_${id}` });
  const sink = new InfluxSink(store, {});
  const logs: string[] = [];
  const pipeline = new KafkaPipeline({ client, detector: det, kafka, processing, sinks: [sink], log: (m) => logs.push(m) });
  await pipeline.start();
  const producer = await client.producer();
  try {
    const site = 'grid-hostile';
    const glitchSite = 'grid-glitch';
    const good = snapshots(table, site);
    const glitchPart = sliceRows(table, 0, 300);
    const glitch = snapshots(glitchPart, glitchSite);
    const g = JSON.parse(glitch[150].value as string) as { ts: number; values: Record<string, number> };
    g.values[det.sensors[2]] = 1e300; // far outside the plausible range: clipped before the model, an implausible-value alert
    glitch[150] = { key: glitchSite, value: encodeSnapshot(glitchSite, g.ts, g.values) };
    const ts0 = table.timestamps[0];
    const sensor = det.sensors[0];
    const expect = new Map<string, number>();
    const bad = (kind: string, m: OutgoingMessage): OutgoingMessage => {
      expect.set(kind, (expect.get(kind) ?? 0) + 1);
      return m;
    };
    // Small poison, spread through the stream between good steps.
    const sprinkled: OutgoingMessage[][] = Array.from({ length: good.length }, () => []);
    for (let i = 0; i < 1200; i++) {
      const at = 10 + ((i * 37) % (good.length - 20));
      const ts = table.timestamps[at];
      const kinds: Array<() => OutgoingMessage> = [
        () => bad('bad-timestamp', { key: site, value: encodeReading({ site, sensor, tsMs: 8.64e15 + 1 + i, value: 0 }) }),
        () => bad('bad-timestamp', { key: site, value: JSON.stringify({ site, sensor, ts: `1${600 + (i % 70)}-01-01T00:00:00Z`, value: 0 }) }),
        () => bad('bad-timestamp', { key: site, value: JSON.stringify({ site, sensor, ts: '2300-06-01T00:00:00Z', value: 0 }) }),
        () => bad('future-timestamp', { key: site, value: encodeReading({ site, sensor, tsMs: Date.now() + 86_400_000 + i, value: 0 }) }),
        // Years ahead of the site but stamped as the record's own time: only the site rule catches it.
        () => bad('ahead-of-site', { key: site, value: encodeReading({ site, sensor, tsMs: ts + ((i % 50) + 1) * 3_600_000, value: 0 }) }),
        () => bad('key-mismatch', { key: `not-${site}-${i % 7}`, value: encodeReading({ site, sensor, tsMs: ts, value: 0 }) }),
        () => bad('empty', { key: site, value: null }),
        () => bad('malformed-json', { key: site, value: Buffer.from([0xff, 0xfe, i & 0xff]) }),
        () => bad('non-finite', { key: site, value: `{"site":"${site}","sensor":"${sensor}","ts":${ts},"value":-1e999}` }),
        () => bad('schema', { key: site, value: JSON.stringify({ site, sensor, ts, value: 'NaN' }) }),
      ];
      sprinkled[at].push(kinds[i % kinds.length]());
    }
    // A flood of unknown sensor names for the site: the first 1000 are counted, the rest dead-lettered.
    const flood = Array.from({ length: 2500 }, (_, i) => ({ key: site, value: encodeReading({ site, sensor: `ghost-${i}`, tsMs: ts0 + 600_000, value: 1 }) }));
    for (let i = 1000; i < flood.length; i++) expect.set('unknown-sensor-limit', (expect.get('unknown-sensor-limit') ?? 0) + 1);
    // A lone digit is valid JSON (a number, not an object: schema); anything else here is not JSON.
    const oneByte = (b: number) => (b >= 0x30 && b <= 0x39 ? 'schema' : 'malformed-json');
    const garbage = Array.from({ length: 12_000 }, (_, i) => bad(oneByte(0x21 + (i % 90)), { key: site, value: Buffer.from([0x21 + (i % 90)]) }));
    const huge = bad('malformed-json', { key: site, value: Buffer.alloc(1_048_000, 0x7b) });

    const sendAll = async (msgs: OutgoingMessage[]) => { for (let i = 0; i < msgs.length; i += 2000) await producer.send(kafka.inputTopic, msgs.slice(i, i + 2000)); };
    const interleave = (from: number, to: number) => good.slice(from, to).flatMap((m, j) => [m, ...sprinkled[from + j]]);
    await sendAll(interleave(0, 400));
    await sendAll(flood);
    await producer.send(kafka.inputTopic, garbage); // one send: they arrive in one fetch
    await producer.send(kafka.inputTopic, [huge]);
    await sendAll(interleave(400, good.length));
    await sendAll(glitch);

    const expectedDead = [...expect.values()].reduce((a, b) => a + b, 0);
    assert.ok(expectedDead >= 1000 + 12_000);
    // Progress deadline: a stalled partition never gets there.
    await waitFor('every valid step in InfluxDB', 150_000, async () => (await influxScores(store, site)).size === table.timestamps.length, 1000);
    await waitFor('the glitch site scored to its end', 60_000, async () => (await influxScores(store, glitchSite)).has(glitchPart.timestamps[299]), 1000);
    await waitCommitted(client, kafka.groupId, kafka.inputTopic, 60_000);
    assert.ok(!logs.some((l) => l.includes('paused for')), `no partition paused: ${logs.filter((l) => l.includes('paused')).join(' | ')}`);

    // Every valid step scored exactly as batch scoring does; alerts are those of a clean run.
    const streamed = await influxScores(store, site);
    const batch = batchScores(det, table, true);
    for (let s = 0; s < batch.total.length; s++) {
      const v = streamed.get(batch.timestamps[s]);
      assert.ok(v !== undefined && Math.abs(v - batch.total[s]) <= 1e-3 * (1 + Math.abs(batch.total[s])), `step ${s}: ${v} vs ${batch.total[s]}`);
    }
    const alerts = (await readTopic(client, kafka.alertsTopic)).map((r) => JSON.parse(r.value!) as Alert).filter((a) => a.labels.site === site);
    assert.deepEqual(alerts.map(alertKey), expectedAlerts(det, site, batch, processing.alerts).map(alertKey));

    // Dead letters: once each, with kind and a pointer to the source record.
    const dead = (await readTopic(client, kafka.deadLetterTopic)).map((m) => ({ m, d: parseDeadLetter(m) }));
    const byKind = new Map<string, number>();
    for (const { d } of dead) if (d.kind !== 'non-finite-score') byKind.set(d.kind, (byKind.get(d.kind) ?? 0) + 1);
    assert.deepEqual(Object.fromEntries([...byKind].sort()), Object.fromEntries([...expect].sort()));
    const sources = dead.map(({ d }) => `${d.source.partition}@${d.source.offset}/${d.kind}`);
    assert.equal(new Set(sources).size, sources.length, 'no message is dead-lettered twice');
    assert.ok(dead.every(({ d }) => d.source.topic === kafka.inputTopic && /^\d+$/.test(d.source.offset) && d.error.length > 0));
    const big = dead.find(({ d }) => d.truncatedFrom !== null);
    assert.equal(big?.d.truncatedFrom, 1_048_000, 'the ~1 MB message is dead-lettered, cut to fit the topic');
    assert.ok(big!.m.rawValue!.length < 1_048_000 && big!.m.rawValue!.every((b) => b === 0x7b));
    const empties = dead.filter(({ d }) => d.kind === 'empty');
    assert.ok(empties.length > 0 && empties.every(({ m }) => m.value === null && m.rawValue === null), 'a null value is dead-lettered as null');

    // The glitch: only finite numbers are written (the reading is clipped; a step that still scored
    // non-finite would be dead-lettered), and the site goes on.
    const glitchScores = await influxScores(store, glitchSite);
    assert.ok([...glitchScores.values()].every(Number.isFinite));
    const glitchDead = dead.filter(({ d }) => d.kind === 'non-finite-score');
    assert.equal(glitchScores.size + glitchDead.length, 300, 'each glitch-site step is either scored or dead-lettered');
    assert.ok([...glitchScores.keys()].filter((k) => k > g.ts).length >= 140, 'the site keeps being scored after the glitch');
  } finally {
    await producer.close();
    await pipeline.stop();
  }
});
