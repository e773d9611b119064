#!/usr/bin/env node
// Health checks used by scripts/services/start.sh (plain JS so it starts fast, no tsx).
//
//   node scripts/services/health.mjs kafka  [--brokers 127.0.0.1:9092] [--timeout 60] [--pid N]
//   node scripts/services/health.mjs influx [--url http://127.0.0.1:8086] [--timeout 30] [--pid N]
//
// Retries until the service answers or --timeout seconds pass. Kafka is ready when a TCP
// connect succeeds and a kafkajs admin client can list topics; InfluxDB is ready when
// GET /ping answers 204. With --pid, gives up early if that process has exited.
// Exit code 0 = healthy, 1 = not healthy (reason on stderr).
import net from 'node:net';
import { readFileSync } from 'node:fs';

const [kind, ...rest] = process.argv.slice(2);
const opts = {};
for (let i = 0; i < rest.length; i += 2) opts[rest[i].replace(/^--/, '')] = rest[i + 1];
const timeoutS = Number(opts.timeout ?? (kind === 'kafka' ? 60 : 30));
const pid = opts.pid ? Number(opts.pid) : undefined;
const started = Date.now();
const deadline = started + timeoutS * 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function processGone() {
  if (pid === undefined) return false;
  try {
    process.kill(pid, 0);
    // A zombie still answers kill(0); its cmdline is empty.
    return readFileSync(`/proc/${pid}/cmdline`).length === 0;
  } catch {
    return true;
  }
}

function tcpConnect(host, port, ms) {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`TCP connect to ${host}:${port} timed out`));
    }, ms);
    socket.once('connect', () => {
      clearTimeout(timer);
      socket.end();
      resolve();
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

async function checkKafka() {
  const brokers = (opts.brokers ?? '127.0.0.1:9092').split(',');
  const [host, port] = brokers[0].split(':');
  await tcpConnect(host, Number(port), 1000);
  let kafkajs;
  try {
    kafkajs = await import('kafkajs');
  } catch {
    return `TCP ok on ${brokers[0]} (kafkajs not installed: run npm ci for the full check)`;
  }
  const { Kafka, logLevel } = kafkajs.default ?? kafkajs;
  const kafka = new Kafka({
    clientId: 'ganf-services-health',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1000,
    requestTimeout: 3000,
    retry: { retries: 0 },
  });
  const admin = kafka.admin();
  try {
    await admin.connect();
    const topics = await admin.listTopics();
    return `listTopics ok on ${brokers.join(',')} (${topics.length} topics)`;
  } finally {
    await admin.disconnect().catch(() => {});
  }
}

async function checkInflux() {
  const url = (opts.url ?? 'http://127.0.0.1:8086').replace(/\/$/, '');
  const res = await fetch(`${url}/ping`, { signal: AbortSignal.timeout(2000) });
  if (res.status !== 204) throw new Error(`GET ${url}/ping answered ${res.status}, expected 204`);
  return `GET ${url}/ping -> 204 (version ${res.headers.get('x-influxdb-version') ?? '?'})`;
}

const check = { kafka: checkKafka, influx: checkInflux }[kind];
if (!check) {
  console.error('usage: health.mjs kafka|influx [--timeout S] [--pid N] [--brokers H:P] [--url U]');
  process.exit(2);
}

let lastError = 'no attempt made';
while (Date.now() < deadline) {
  if (processGone()) {
    console.error(`${kind}: process ${pid} exited before becoming healthy (last error: ${lastError})`);
    process.exit(1);
  }
  try {
    const detail = await check();
    console.log(`${kind}: healthy after ${((Date.now() - started) / 1000).toFixed(2)}s: ${detail}`);
    process.exit(0);
  } catch (err) {
    lastError = err instanceof Error ? err.message : String(err);
  }
  await sleep(300);
}
console.error(`${kind}: not healthy after ${timeoutS}s (last error: ${lastError})`);
process.exit(1);
