// The benchmark's load generator (a separate process, as a real producer would be): sends a
// synthetic series as sensor messages to Kafka at a fixed rate of readings per second, round robin
// over the sites, and prints a JSON summary on stdout when done. Usage: stream-producer.ts META.json
import { readFile } from 'node:fs/promises';
import { createKafkaClient, type OutgoingMessage } from '../src/adapters/kafka-client.ts';
import { encodeReading, encodeSnapshot } from '../src/stream/messages.ts';

interface Meta {
  brokers: string[];
  topic: string;
  sites: string[];
  sensors: string[];
  intervalMs: number;
  /** Event time of row 0. */
  startMs: number;
  rate: number;
  seconds: number;
  format: 'reading' | 'snapshot';
  dataFile: string;
  rows: number;
}

const meta = JSON.parse(await readFile(process.argv[2], 'utf8')) as Meta;
const buf = await readFile(meta.dataFile);
const data = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
const K = meta.sensors.length;
const S = meta.sites.length;
const client = createKafkaClient({ brokers: meta.brokers, clientId: 'ganf-bench-producer', logLevel: 'error' });
const producer = await client.producer();
const stepsPerSecond = meta.rate / K;
const totalSteps = Math.min(Math.floor(stepsPerSecond * meta.seconds), meta.rows * S);
const maxPerSend = meta.format === 'reading' ? 4000 : Math.max(20, Math.floor(4000 / K) * 4);

function messagesOf(i: number): OutgoingMessage[] {
  const site = meta.sites[i % S];
  const row = Math.floor(i / S);
  const tsMs = meta.startMs + row * meta.intervalMs;
  const base = row * K;
  if (meta.format === 'snapshot') {
    const values: Record<string, number> = {};
    for (let k = 0; k < K; k++) values[meta.sensors[k]] = data[base + k];
    return [{ key: site, value: encodeSnapshot(site, tsMs, values) }];
  }
  const out: OutgoingMessage[] = [];
  for (let k = 0; k < K; k++) out.push({ key: site, value: encodeReading({ site, sensor: meta.sensors[k], tsMs, value: data[base + k] }) });
  return out;
}

const started = performance.now();
let sent = 0;
let messages = 0;
let behindMax = 0;
while (sent < totalSteps) {
  const due = Math.min(totalSteps, Math.floor(((performance.now() - started) / 1000) * stepsPerSecond));
  if (due <= sent) {
    await new Promise((r) => setTimeout(r, 2));
    continue;
  }
  behindMax = Math.max(behindMax, due - sent);
  const batch: OutgoingMessage[] = [];
  while (sent < due && batch.length < maxPerSend) batch.push(...messagesOf(sent++));
  await producer.send(meta.topic, batch);
  messages += batch.length;
}
const seconds = (performance.now() - started) / 1000;
await producer.close();
process.stdout.write(`${JSON.stringify({ steps: sent, messages, readings: sent * K, seconds, readingsPerSecond: (sent * K) / seconds, maxBacklogSteps: behindMax })}\n`);
