// Reaching the real local services from tests: they must be running (npm test starts them); if
// they are not reachable the tests FAIL with a hint, never skip.
import assert from 'node:assert/strict';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { createKafkaClient, type IncomingMessage, type KafkaClient } from '../../src/adapters/kafka-client.ts';
import { InfluxScoreStore, seriesRows } from '../../src/adapters/influx-store.ts';

export const KAFKA_BROKERS = (process.env.KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');
export const INFLUX_URL = process.env.INFLUX_URL ?? 'http://127.0.0.1:8086';
export const START_HINT = 'Start the local services first: npm run services:start (see docs/services.md)';

export function runId(): string {
  return `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

export function tcpProbe(hostPort: string, ms: number): Promise<void> {
  const [host, port] = hostPort.split(':');
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port: Number(port) });
    socket.setTimeout(ms, () => socket.destroy(new Error(`TCP connect to ${hostPort} timed out`)));
    socket.once('connect', () => {
      socket.end();
      resolve();
    });
    socket.once('error', reject);
  });
}

export async function kafkaClient(clientId: string): Promise<KafkaClient> {
  const client = createKafkaClient({ brokers: KAFKA_BROKERS, clientId, logLevel: 'nothing' });
  try {
    await tcpProbe(KAFKA_BROKERS[0], 2000);
    const admin = await client.admin();
    await admin.close();
  } catch (err) {
    assert.fail(`Kafka is not reachable at ${KAFKA_BROKERS.join(',')} (${(err as Error).message}). ${START_HINT}`);
  }
  return client;
}

export async function influxStore(database: string): Promise<InfluxScoreStore> {
  const store = new InfluxScoreStore({ url: INFLUX_URL, database });
  try {
    await store.ping();
  } catch (err) {
    assert.fail(`InfluxDB is not reachable at ${INFLUX_URL} (${(err as Error).message}). ${START_HINT}`);
  }
  return store;
}

export async function waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | null | false>, everyMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== null && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Every committed record of a topic (all partitions), in partition then offset order. */
export async function readTopic(client: KafkaClient, topic: string): Promise<IncomingMessage[]> {
  const admin = await client.admin();
  let partitions: number[];
  try {
    partitions = (await admin.fetchWatermarks(topic)).map((w) => w.partition);
  } finally {
    await admin.close();
  }
  const out: IncomingMessage[] = [];
  await client.readToEnd(topic, partitions, (m) => out.push(m));
  return out.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
}

/** step time -> score of one site, from ganf_scores. */
export async function influxScores(store: InfluxScoreStore, site: string): Promise<Map<number, number>> {
  const series = await store.query(`SELECT score FROM ganf_scores WHERE site = '${site.replace(/'/g, "\\'")}'`).catch(() => []);
  const out = new Map<number, number>();
  for (const s of series) for (const r of seriesRows(s)) out.set(Number(r.time), Number(r.score));
  return out;
}

export async function influxCount(store: InfluxScoreStore, query: string): Promise<number> {
  const series = await store.query(query).catch(() => []);
  return series.length ? Number(seriesRows(series[0])[0].count ?? 0) : 0;
}

/** Waits until the group's committed offsets reach the end of every partition of the topic (empty partitions count as done). */
export async function waitCommitted(client: KafkaClient, groupId: string, topic: string, timeoutMs = 30_000): Promise<void> {
  await waitFor(`group ${groupId} to commit everything in ${topic}`, timeoutMs, async () => {
    const a = await client.admin();
    try {
      const marks = await a.fetchWatermarks(topic);
      const offs = await a.fetchCommittedOffsets(groupId, topic);
      return marks.every((m) => m.high === m.low || offs.find((o) => o.partition === m.partition)?.offset === m.high);
    } finally {
      await a.close();
    }
  });
}

/** Deletes a test's topics (best effort: a topic never created is not an error). */
export async function deleteTopics(client: KafkaClient, topics: string[]): Promise<void> {
  const admin = await client.admin();
  await admin.deleteTopics(topics).catch(() => {});
  await admin.close();
}
