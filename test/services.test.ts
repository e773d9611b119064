/**
 * End-to-end tests against the real local services (Kafka on 127.0.0.1:9092, InfluxDB on
 * 127.0.0.1:8086). They must already be running: start them with `npm run services:start`.
 * If they are not reachable the tests FAIL (never skip). Override the endpoints with
 * KAFKA_BROKERS=host:port[,host:port] and INFLUX_URL=http://host:port.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { KAFKA_BROKERS, INFLUX_URL, START_HINT, tcpProbe } from './helpers/services.ts';
import {
  createKafkaClient,
  ensureTopics,
  type IncomingMessage,
  type KafkaClient,
} from '../src/adapters/kafka-client.ts';
import {
  InfluxScoreStore,
  quoteIdentifier,
  seriesRows,
  toLineProtocol,
} from '../src/adapters/influx-store.ts';

const RUN_ID = `${Date.now()}-${randomBytes(3).toString('hex')}`;

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function requireKafka(client: KafkaClient): Promise<void> {
  try {
    await tcpProbe(KAFKA_BROKERS[0], 2000);
    const admin = await withTimeout(client.admin(), 8000, 'connecting to Kafka');
    await admin.close();
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    assert.fail(`Kafka is not reachable at ${KAFKA_BROKERS.join(',')} (${reason}). ${START_HINT}`);
  }
}

async function requireInflux(store: InfluxScoreStore): Promise<void> {
  try {
    await store.ping();
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    assert.fail(`InfluxDB is not reachable at ${INFLUX_URL} (${reason}). ${START_HINT}`);
  }
}

test('toLineProtocol escapes measurement, tags, fields and string values', () => {
  assert.equal(
    toLineProtocol('anomaly score', { sensor: 'a,b=c d', 'site id': 'x' }, { score: 1.5 }, 1700000000123),
    'anomaly\\ score,sensor=a\\,b\\=c\\ d,site\\ id=x score=1.5 1700000000123',
  );
  assert.equal(
    toLineProtocol('m,1', {}, { 'f=1': 'say "hi" \\ bye', n: 42n, ok: true, bad: false }),
    'm\\,1 f\\=1="say \\"hi\\" \\\\ bye",n=42i,ok=true,bad=false',
  );
  // tags are sorted; empty/undefined tags and undefined fields are dropped
  assert.equal(
    toLineProtocol('m', { z: '1', a: '2', empty: '', none: undefined }, { v: -0.25, skip: undefined }, 0),
    'm,a=2,z=1 v=-0.25 0',
  );
  assert.equal(toLineProtocol('m', {}, { big: 1e21, tiny: 1.5e-7 }), 'm big=1e+21,tiny=1.5e-7');
  assert.throws(() => toLineProtocol('m', {}, {}), /no fields/);
  assert.throws(() => toLineProtocol('m', {}, { v: Number.NaN }), /finite/);
  assert.throws(() => toLineProtocol('m', { t: 'a\nb' }, { v: 1 }), /newline/);
  assert.throws(() => toLineProtocol('m', { t: 'ends\\' }, { v: 1 }), /backslash/);
  assert.throws(() => toLineProtocol('m', {}, { v: 1 }, 1.5), /integer/);
  assert.throws(() => toLineProtocol('m', {}, { n: 2n ** 63n }), /int64/);
  assert.equal(quoteIdentifier('a "b"'), '"a \\"b\\""');
});

test('Kafka: topic with 3 partitions, keyed produce, consume back in a group', { timeout: 30_000 }, async () => {
  const client = createKafkaClient({ brokers: KAFKA_BROKERS, clientId: `ganf-services-test-${RUN_ID}`, logLevel: 'nothing' });
  await requireKafka(client);

  const topic = `ganf-services-test-${RUN_ID}`;
  const admin = await client.admin();
  try {
    assert.deepEqual(await ensureTopics(admin, [{ topic, partitions: 3 }]), [topic]);
    assert.deepEqual(await ensureTopics(admin, [{ topic, partitions: 3 }]), [], 'second ensureTopics is a no-op');
    assert.deepEqual(await admin.describeTopics([topic]), [{ topic, partitions: 3 }]);

    const sent = [
      { key: 'sensor-1', value: JSON.stringify({ t: 1, x: [0.5, 1.5] }) },
      { key: 'sensor-2', value: JSON.stringify({ t: 2, x: [2.5, -1] }) },
      { key: 'sensor-3', value: 'plain text, ünïcödé' },
    ];
    const producer = await client.producer();
    try {
      await producer.send(topic, sent.map((m) => ({ ...m, headers: { run: RUN_ID } })));
    } finally {
      await producer.close();
    }

    const consumer = await client.consumer({ groupId: `ganf-services-test-${RUN_ID}`, topics: [topic], fromBeginning: true });
    const received: IncomingMessage[] = [];
    try {
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          consumer
            .run(async (batch) => {
              assert.equal(batch.topic, topic);
              received.push(...batch.messages);
              if (received.length >= sent.length) resolve();
            })
            .catch(reject);
        }),
        20_000,
        `consuming ${sent.length} messages from ${topic}`,
      );
    } finally {
      await consumer.close();
    }

    assert.equal(received.length, sent.length);
    const byKey = new Map(received.map((m) => [m.key, m]));
    for (const m of sent) {
      const got = byKey.get(m.key);
      assert.ok(got, `message with key ${m.key} was consumed`);
      assert.equal(got.value, m.value);
      assert.equal(got.topic, topic);
      assert.ok(got.partition >= 0 && got.partition < 3);
      assert.equal(got.headers.run, RUN_ID);
      assert.ok(Math.abs(got.timestampMs - Date.now()) < 60_000, 'timestamp is recent');
    }
  } finally {
    await admin.deleteTopics([topic]).catch(() => {});
    await admin.close();
  }
});

test('InfluxDB: line-protocol writes read back with InfluxQL', { timeout: 30_000 }, async () => {
  const database = `ganf_services_test_${RUN_ID.replace(/-/g, '_')}`;
  const store = new InfluxScoreStore({ url: INFLUX_URL, database });
  await requireInflux(store);
  try {
    const t0 = Date.now() - 60_000;
    const measurement = 'anomaly score';
    const tricky = 'a,b=c d "q" \\ end';
    const lines = [
      toLineProtocol(measurement, { sensor: 's1', site: tricky }, { score: 0.25, flagged: false, note: 'ok' }, t0),
      toLineProtocol(measurement, { sensor: 's1', site: tricky }, { score: 3.75, flagged: true, note: 'line1\nline2 "x"' }, t0 + 1000),
      toLineProtocol(measurement, { sensor: 's2', site: 'plain' }, { score: 1e21, flagged: false, window: 7n }, t0 + 2000),
    ];
    await store.writeLines(lines); // the database does not exist yet: created on first use

    const series = await store.query(
      `SELECT score, flagged, note FROM ${quoteIdentifier(measurement)} WHERE site = '${tricky.replace(/['\\]/g, (c) => `\\${c}`)}' ORDER BY time`,
    );
    assert.equal(series.length, 1);
    assert.equal(series[0].name, measurement);
    assert.deepEqual(seriesRows(series[0]), [
      { time: t0, score: 0.25, flagged: false, note: 'ok' },
      { time: t0 + 1000, score: 3.75, flagged: true, note: 'line1\nline2 "x"' },
    ]);

    const grouped = await store.query(`SELECT count(score), max(score) FROM ${quoteIdentifier(measurement)} GROUP BY sensor`);
    const bySensor = new Map(grouped.map((s) => [s.tags.sensor, seriesRows(s)[0]]));
    assert.equal(bySensor.get('s1')?.count, 2);
    assert.equal(bySensor.get('s1')?.max, 3.75);
    assert.equal(bySensor.get('s2')?.max, 1e21);

    const windows = await store.query(`SELECT "window" FROM ${quoteIdentifier(measurement)} WHERE sensor = 's2'`);
    assert.equal(seriesRows(windows[0])[0].window, 7);

    const tagValues = await store.query(`SHOW TAG VALUES FROM ${quoteIdentifier(measurement)} WITH KEY = "site"`);
    assert.deepEqual(tagValues[0].values.map((v) => v[1]).sort(), [tricky, 'plain'].sort());

    await assert.rejects(store.query('SELECT FROM nowhere'), /InfluxDB query/);
  } finally {
    await store.dropDatabase().catch(() => {});
  }
});
