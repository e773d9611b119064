// Real HTTP on 127.0.0.1: Server-Sent Events with heartbeats and Last-Event-ID replay, and
// webhooks to a local receiver that checks HMAC signatures and fails on purpose to force retries.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { spawn } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { sampleAlert, startTestService, TEST_KEYS, type TestService } from './helpers/api.ts';
import { ingestAlert } from '../src/api/alerts/ingest.ts';
import { verifySignature } from '../src/api/webhooks/payload.ts';
import { parseApiConfig } from '../src/api/config.ts';
import { createApiService } from '../src/api/server.ts';

let svc: TestService;
let base: string;

before(async () => {
  // The receivers listen on 127.0.0.1: loopback targets must be allowed explicitly.
  svc = await startTestService([], { sse: { heartbeatMs: 100 }, webhooks: { backoffBaseMs: 60, maxAttempts: 4, timeoutMs: 2000, allowedHosts: ['127.0.0.1'] } });
  base = await svc.listen();
  assert.match(base, /^http:\/\/127\.0\.0\.1:\d+$/);
});

after(async () => {
  await svc?.close();
});

interface SseEvent { id: string | null; event: string | null; data: string }

/** A minimal EventSource over fetch: collects events and comment lines until aborted. */
function sse(url: string, headers: Record<string, string>) {
  const ctl = new AbortController();
  const events: SseEvent[] = [];
  const comments: string[] = [];
  const waiters: (() => void)[] = [];
  let status = 0;
  const done = (async () => {
    const res = await fetch(url, { headers, signal: ctl.signal });
    status = res.status;
    if (!res.body) return;
    const reader = res.body.getReader();
    const dec = new TextDecoder();
    let buf = '';
    try {
      for (;;) {
        const { value, done: end } = await reader.read();
        if (end) break;
        buf += dec.decode(value, { stream: true });
        let i: number;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const ev: SseEvent = { id: null, event: null, data: '' };
          let isEvent = false;
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line);
            else if (line.startsWith('id: ')) { ev.id = line.slice(4); isEvent = true; }
            else if (line.startsWith('event: ')) ev.event = line.slice(7);
            else if (line.startsWith('data: ')) ev.data += line.slice(6);
          }
          if (isEvent) events.push(ev);
          for (const w of waiters.splice(0)) w();
        }
      }
    } catch {
      // aborted
    }
  })();
  const until = async (pred: () => boolean, what: string, ms = 5000) => {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 50); });
    }
  };
  return { events, comments, until, status: () => status, close: async () => { ctl.abort(); await done; } };
}

test('SSE: alert changes stream live with heartbeats; a client reconnecting with Last-Event-ID gets exactly what it missed', async () => {
  const store = svc.deps.alerts;
  const auth = { authorization: `Bearer ${TEST_KEYS.reader}` };
  const noKey = await fetch(`${base}/alerts/stream`);
  assert.equal(noKey.status, 401);
  assert.equal((await noKey.json() as any).type, '/problems/unauthorized');

  const c1 = sse(`${base}/alerts/stream`, auth);
  await c1.until(() => c1.status() === 200, 'connect');
  await new Promise((r) => setTimeout(r, 50));
  for (let i = 0; i < 3; i++) ingestAlert(store, sampleAlert(i));
  await c1.until(() => c1.events.length === 3, '3 live events');
  await c1.until(() => c1.comments.some((c) => c.startsWith(': heartbeat')), 'a heartbeat');
  const lastSeen = c1.events[2].id!;
  await c1.close();

  // Changes while disconnected: two new alerts, an ack, a resolution.
  ingestAlert(store, sampleAlert(3));
  ingestAlert(store, sampleAlert(4));
  store.ack(store.query({ limit: 1 }).items[0].id, 'operator');
  ingestAlert(store, sampleAlert(0, { endsAt: '2024-01-11T00:30:00Z' }));

  const c2 = sse(`${base}/alerts/stream`, { ...auth, 'last-event-id': lastSeen });
  await c2.until(() => c2.events.length === 4, 'the 4 missed changes');
  ingestAlert(store, sampleAlert(5));
  await c2.until(() => c2.events.length === 5, 'then live again');
  const ids = [...c1.events, ...c2.events].map((e) => Number(e.id));
  assert.deepEqual(ids, [1, 2, 3, 4, 5, 6, 7, 8], 'every change once, in order');
  assert.deepEqual(c2.events.map((e) => e.event), ['alert', 'alert', 'ack', 'alert', 'alert']);
  const resolved = JSON.parse(c2.events[3].data);
  assert.equal(resolved.alert.status, 'resolved');
  assert.equal(resolved.seq, 7);
  await c2.close();

  // Filtered stream, replayed from the beginning via the query parameter.
  const c3 = sse(`${base}/alerts/stream?site=north&lastEventId=0`, auth);
  const north = store.changesSince(0).filter((c) => c.alert.labels.site === 'north').length;
  await c3.until(() => c3.events.length === north, 'north replay');
  assert.ok(c3.events.every((e) => JSON.parse(e.data).alert.labels.site === 'north'));
  await c3.close();
  await new Promise((r) => setTimeout(r, 100));
  const m = await fetch(`${base}/metrics`, { headers: auth });
  assert.match(await m.text(), /ganf_sse_clients 0/);
});

interface Received { path: string; body: string; headers: http.IncomingHttpHeaders; at: number }

async function receiver(handler: (req: Received, count: number) => number) {
  const got: Received[] = [];
  const perDelivery = new Map<string, number>();
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const r = { path: req.url ?? '', body, headers: req.headers, at: Date.now() };
      got.push(r);
      const id = String(req.headers['x-ganf-delivery']);
      const n = (perDelivery.get(id) ?? 0) + 1;
      perDelivery.set(id, n);
      res.writeHead(handler(r, n)).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, got, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function waitFor(pred: () => boolean | Promise<boolean>, what: string, ms = 8000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

test('webhooks: HMAC-signed deliveries, retried with backoff on failure, failed ones kept and visible, re-deliverable; Alertmanager payload', async () => {
  const secret = 'a-shared-secret-of-some-length';
  let failing = true;
  const rx = await receiver((r, n) => {
    if (r.path === '/flaky') return n <= 2 ? 500 : 200;
    if (r.path === '/down') return failing ? 503 : 204;
    return 200;
  });
  try {
    const post = (payload: Record<string, unknown>) => svc.app.inject({ method: 'POST', url: '/subscriptions', headers: svc.auth('operator'), payload });
    const flaky = JSON.parse((await post({ url: `${rx.url}/flaky`, secret, filter: { sites: ['east'] } })).body);
    const down = JSON.parse((await post({ url: `${rx.url}/down`, secret, filter: { sites: ['east'], types: ['alert'] } })).body);
    const am = JSON.parse((await post({ url: `${rx.url}/am`, format: 'alertmanager', filter: { severities: ['critical'] } })).body);

    const alert = sampleAlert(20, { site: 'east', severity: 'critical' }); // i=20: east would be i%3==2; forced anyway
    const { alert: stored } = ingestAlert(svc.deps.alerts, alert);

    await waitFor(() => rx.got.filter((r) => r.path === '/flaky').length === 3, '3 attempts at /flaky');
    const attempts = rx.got.filter((r) => r.path === '/flaky');
    for (const a of attempts) {
      assert.ok(verifySignature(secret, a.headers['x-ganf-signature'] as string, a.body), 'signature verifies');
      assert.ok(!verifySignature('another-secret-entirely', a.headers['x-ganf-signature'] as string, a.body));
      assert.ok(!verifySignature(secret, a.headers['x-ganf-signature'] as string, a.body.replace('east', 'west')), 'tampered body is refused');
      assert.equal(a.body, attempts[0].body, 'same body on every attempt');
    }
    assert.deepEqual(attempts.map((a) => a.headers['x-ganf-attempt']), ['1', '2', '3']);
    // Backoff: base 60 ms doubling, ±20 % jitter.
    assert.ok(attempts[1].at - attempts[0].at >= 0.8 * 60 - 5, `first retry after ${attempts[1].at - attempts[0].at} ms`);
    assert.ok(attempts[2].at - attempts[1].at >= 0.8 * 120 - 5, `second retry after ${attempts[2].at - attempts[1].at} ms`);
    const body = JSON.parse(attempts[0].body);
    assert.equal(body.type, 'alert');
    assert.equal(body.alert.id, stored.id);
    assert.deepEqual(body.alert.topSensors, alert.topSensors, 'the top sensors as produced, with expected vs observed');
    await waitFor(async () => {
      const d = JSON.parse((await svc.app.inject({ url: `/subscriptions/${flaky.id}/deliveries`, headers: svc.auth('operator') })).body).items;
      return d.length === 1 && d[0].status === 'delivered';
    }, 'flaky delivered');
    const [fd] = JSON.parse((await svc.app.inject({ url: `/subscriptions/${flaky.id}/deliveries`, headers: svc.auth('operator') })).body).items;
    assert.deepEqual(fd.attempts.map((a: any) => a.httpStatus), [500, 500, 200]);

    // /down never succeeds: 4 attempts, then failed, kept and visible.
    await waitFor(async () => {
      const d = JSON.parse((await svc.app.inject({ url: `/subscriptions/${down.id}/deliveries?status=failed`, headers: svc.auth('operator') })).body).items;
      return d.length === 1;
    }, 'failed delivery');
    const [failed] = JSON.parse((await svc.app.inject({ url: `/subscriptions/${down.id}/deliveries?status=failed`, headers: svc.auth('operator') })).body).items;
    assert.equal(failed.attempts.length, 4);
    assert.ok(failed.attempts.every((a: any) => a.httpStatus === 503 && a.error === 'HTTP 503'));
    const sub = JSON.parse((await svc.app.inject({ url: `/subscriptions/${down.id}`, headers: svc.auth('operator') })).body);
    assert.equal(sub.deliveries.failed, 1);
    assert.match((await svc.app.inject({ url: '/metrics', headers: svc.auth('operator') })).body, /ganf_webhook_deliveries_failed 1/);
    // The receiver is fixed; the failed delivery is sent again on request.
    failing = false;
    const retry = await svc.app.inject({ method: 'POST', url: `/subscriptions/${down.id}/deliveries/${failed.id}/retry`, headers: svc.auth('operator') });
    assert.equal(retry.statusCode, 202);
    await waitFor(async () => JSON.parse((await svc.app.inject({ url: `/subscriptions/${down.id}/deliveries?status=delivered`, headers: svc.auth('operator') })).body).items.length === 1, 'redelivered');

    // Alertmanager format: v4 payload; acks are not Alertmanager events, warnings are filtered out.
    await waitFor(() => rx.got.some((r) => r.path === '/am'), 'alertmanager delivery');
    const amBody = JSON.parse(rx.got.find((r) => r.path === '/am')!.body);
    assert.equal(amBody.version, '4');
    assert.equal(amBody.status, 'firing');
    assert.equal(amBody.receiver, am.id);
    assert.equal(amBody.alerts.length, 1);
    assert.deepEqual(Object.keys(amBody.alerts[0]).sort(), ['annotations', 'endsAt', 'fingerprint', 'generatorURL', 'labels', 'startsAt', 'status']);
    assert.equal(amBody.alerts[0].endsAt, '0001-01-01T00:00:00Z');
    assert.equal(amBody.alerts[0].labels.severity, 'critical');
    assert.deepEqual(amBody.alerts[0].labels, alert.labels);
    assert.equal(amBody.alerts[0].fingerprint, alert.fingerprint);
    assert.deepEqual(amBody.alerts[0].annotations, alert.annotations);
    assert.match(amBody.alerts[0].annotations.description, /B01 expected 0, observed 5\.5 \(parents B02\)/);
    assert.ok(verifySignature(am.secret, rx.got.find((r) => r.path === '/am')!.headers['x-ganf-signature'] as string, rx.got.find((r) => r.path === '/am')!.body));
    const before = rx.got.filter((r) => r.path === '/am').length;
    svc.deps.alerts.ack(stored.id, 'operator');
    ingestAlert(svc.deps.alerts, sampleAlert(21, { site: 'east', severity: 'warning' }));
    await svc.deps.dispatcher.drained();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(rx.got.filter((r) => r.path === '/am').length, before, 'no ack, no warning');
    // The ganf-format /flaky subscription (no type filter) does get the ack.
    await waitFor(() => rx.got.some((r) => r.path === '/flaky' && JSON.parse(r.body).type === 'ack'), 'ack delivered to ganf format');
  } finally {
    await rx.close();
  }
});

test('webhooks: deliveries pending when the service stops are sent after it restarts', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'ganf-api-restart-'));
  const cfg = parseApiConfig({
    port: 0, dataDir: path.join(dir, 'data'), modelsRoot: path.join(dir, 'models'),
    auth: { keys: [{ name: 'operator', role: 'operator', key: TEST_KEYS.operator }] },
    webhooks: { backoffBaseMs: 200, maxAttempts: 10, allowedHosts: ['127.0.0.1'] },
  });
  let up = false;
  const rx = await receiver(() => (up ? 200 : 503));
  try {
    const a = await createApiService(cfg);
    const sub = JSON.parse((await a.app.inject({ method: 'POST', url: '/subscriptions', headers: { authorization: `Bearer ${TEST_KEYS.operator}` }, payload: { url: `${rx.url}/h`, secret: 'restart-secret-0123456789' } })).body);
    ingestAlert(a.deps.alerts, sampleAlert(1));
    await waitFor(() => rx.got.length >= 1, 'first attempt');
    await a.close();
    up = true;
    const b = await createApiService(cfg);
    try {
      await waitFor(async () => JSON.parse((await b.app.inject({ url: `/subscriptions/${sub.id}/deliveries`, headers: { authorization: `Bearer ${TEST_KEYS.operator}` } })).body).items[0]?.status === 'delivered', 'delivered after restart');
      const ok = rx.got.filter((r) => r.headers['x-ganf-delivery'] === rx.got[0].headers['x-ganf-delivery']);
      assert.ok(ok.length >= 2);
      assert.ok(verifySignature('restart-secret-0123456789', ok.at(-1)!.headers['x-ganf-signature'] as string, ok.at(-1)!.body));
    } finally {
      await b.close();
    }
  } finally {
    await rx.close();
  }
});

test('`ganf api` serves on 127.0.0.1 with keys from the environment and shuts down cleanly on SIGTERM', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'ganf-api-cli-'));
  const cfgFile = path.join(dir, 'api.json');
  await (await import('node:fs/promises')).writeFile(cfgFile, JSON.stringify({ port: 0, auth: { keys: [{ name: 'r', role: 'reader', env: 'GANF_TEST_KEY' }] } }));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'api', '--config', cfgFile, '--models', path.join(dir, 'models'), '--data', path.join(dir, 'data')], {
    env: { ...process.env, GANF_TEST_KEY: 'cli-test-key-0123456789', GANF_QUIET_BACKEND: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (b) => (err += b));
  try {
    await waitFor(() => /listening on http:\/\/127\.0\.0\.1:\d+/.test(err), 'the listening line', 30_000);
    const url = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(err)![1];
    assert.match(err, /model none active/);
    assert.equal((await fetch(`${url}/health`)).status, 200);
    assert.equal((await fetch(`${url}/alerts`)).status, 401);
    assert.equal((await fetch(`${url}/alerts`, { headers: { authorization: 'Bearer cli-test-key-0123456789' } })).status, 200);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    assert.equal(await exited, 0);
    assert.match(err, /shutting down/);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
