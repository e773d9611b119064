// Webhook targets cannot reach inside: every internal address class is refused at creation and
// again at delivery (a name whose DNS answer changes after creation included), a delivery goes to
// exactly the address that was checked, redirects are not followed, private receivers need an
// explicit allow-list entry, and only operators create subscriptions. Real HTTP on 127.0.0.1.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { sampleAlert, startTestService, type TestService } from './helpers/api.ts';
import { ingestAlert } from '../src/api/alerts/ingest.ts';
import { addressClass, systemResolver, type Resolver } from '../src/api/webhooks/target.ts';
import { REFUSED } from '../src/api/webhooks/dispatcher.ts';

const PUBLIC = '93.184.215.14';
// What each name resolves to right now; rebind.example changes its answer after creation.
const dns = new Map<string, string[]>([
  ['internal.example', ['10.1.2.3']],
  ['metadata.example', ['169.254.169.254']],
  ['mixed.example', [PUBLIC, '127.0.0.1']],
  ['rebind.example', [PUBLIC]],
  ['pinned.internal', ['127.0.0.1']],
]);
const resolve: Resolver = async (host) => {
  const a = dns.get(host);
  return a ? a.map((address) => ({ address, family: address.includes(':') ? 6 : 4 })) : systemResolver(host);
};

let svc: TestService;
let rx: { port: number; got: Array<{ path: string; host: string }>; close: () => Promise<void> };

before(async () => {
  const got: Array<{ path: string; host: string }> = [];
  const server = http.createServer((req, res) => {
    got.push({ path: req.url ?? '', host: req.headers.host ?? '' });
    req.resume();
    if (req.url === '/redirect') res.writeHead(302, { location: '/landing' }).end();
    else res.writeHead(200).end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  rx = { port: (server.address() as AddressInfo).port, got, close: () => new Promise((r) => server.close(() => r())) };
  svc = await startTestService([], { webhooks: { allowedHosts: ['pinned.internal', '10.99.0.0/16'], backoffBaseMs: 50, maxAttempts: 3, timeoutMs: 2000 } }, { resolve });
});

after(async () => {
  await svc?.close();
  await rx?.close();
});

const create = (url: unknown, role: 'reader' | 'operator' = 'operator') =>
  svc.app.inject({ method: 'POST', url: '/subscriptions', headers: svc.auth(role), payload: { url } });

test('every internal address class is refused at creation, with a 400 naming body.url', async () => {
  const internal: Array<[string, RegExp]> = [
    ['http://127.0.0.1:8086/query?q=DROP%20DATABASE%20ganf', /loopback/],
    ['http://localhost:8086/ping', /loopback/],
    ['http://127.1/', /loopback/],
    ['http://2130706433/', /loopback/],
    ['http://0x7f.0.0.1/', /loopback/],
    ['http://[::1]:8080/', /loopback/],
    ['http://[::ffff:127.0.0.1]/', /loopback/],
    ['http://[64:ff9b::7f00:1]/', /loopback/],
    ['http://0.0.0.0:8080/', /unspecified/],
    ['http://[::]/', /unspecified/],
    ['http://169.254.169.254/latest/meta-data/', /link-local/],
    ['http://[::ffff:a9fe:a9fe]/', /link-local/],
    ['http://[fe80::1]/', /link-local/],
    ['http://10.0.0.5/', /private/],
    ['http://172.16.3.4/', /private/],
    ['http://192.168.1.1/', /private/],
    ['http://[fd00::1]/', /private/],
    ['http://100.64.0.1/', /CGNAT/],
    ['http://224.0.0.1/', /multicast/],
    ['http://[ff02::1]/', /multicast/],
    ['http://255.255.255.255/', /reserved/],
    ['http://internal.example/hook', /private/],
    ['http://metadata.example/', /link-local/],
    ['http://mixed.example/', /loopback/],
    ['http://10.98.1.1/', /private/], // next to, not in, the allowed 10.99.0.0/16
  ];
  for (const [url, cls] of internal) {
    const res = await create(url);
    assert.equal(res.statusCode, 400, `${url}: ${res.body}`);
    const p = JSON.parse(res.body);
    assert.equal(p.errors[0].field, 'body.url', url);
    assert.match(p.errors[0].message, cls, url);
  }
  assert.equal(JSON.parse((await svc.app.inject({ url: '/subscriptions', headers: svc.auth('operator') })).body).items.length, 0);
});

test('a non-URL is a 400 naming body.url, never a 500; readers cannot subscribe', async () => {
  for (const url of ['not a url', '', 'http://', 'ftp://example.com/x', 'http://[::1', '//example.com/x', 'javascript:alert(1)', 'http://exa mple.com/', 42, null]) {
    const res = await create(url);
    assert.equal(res.statusCode, 400, `${JSON.stringify(url)}: ${res.body}`);
    assert.equal(JSON.parse(res.body).errors[0].field, 'body.url', JSON.stringify(url));
  }
  assert.equal((await create(`http://${PUBLIC}/hook`, 'reader')).statusCode, 403);
});

test('a name that resolves to a public address at creation and to loopback later is refused at delivery; the receiver sees nothing', async () => {
  const res = await create(`http://rebind.example:${rx.port}/rebound`);
  assert.equal(res.statusCode, 201, res.body);
  const sub = JSON.parse(res.body);
  dns.set('rebind.example', ['127.0.0.1']);
  ingestAlert(svc.deps.alerts, sampleAlert(1));
  await svc.deps.dispatcher.drained();
  const [d] = JSON.parse((await svc.app.inject({ url: `/subscriptions/${sub.id}/deliveries`, headers: svc.auth('operator') })).body).items;
  assert.equal(d.status, 'failed', 'refused at once, not retried');
  assert.equal(d.attempts.length, 1);
  assert.equal(d.attempts[0].httpStatus, null);
  assert.equal(d.attempts[0].error, REFUSED, 'a generic reason: no address, no port');
  assert.ok(!rx.got.some((r) => r.path === '/rebound'));
  await svc.app.inject({ method: 'DELETE', url: `/subscriptions/${sub.id}`, headers: svc.auth('operator') });
});

test('an allow-listed private receiver gets its deliveries at the checked address, with its own Host; redirects are not followed', async () => {
  const ok = JSON.parse((await create(`http://pinned.internal:${rx.port}/hook`)).body);
  const redirect = JSON.parse((await create(`http://pinned.internal:${rx.port}/redirect`)).body);
  ingestAlert(svc.deps.alerts, sampleAlert(2));
  await svc.deps.dispatcher.drained();
  // pinned.internal exists only in the service's resolver: reaching the receiver proves the pin.
  const hook = rx.got.filter((r) => r.path === '/hook');
  assert.equal(hook.length, 1);
  assert.equal(hook[0].host, `pinned.internal:${rx.port}`);
  const [d] = JSON.parse((await svc.app.inject({ url: `/subscriptions/${ok.id}/deliveries`, headers: svc.auth('operator') })).body).items;
  assert.equal(d.status, 'delivered');
  assert.equal(d.attempts[0].httpStatus, 200);
  await new Promise((r) => setTimeout(r, 400)); // the redirect's retries (50 ms, 100 ms)
  await svc.deps.dispatcher.drained();
  assert.ok(rx.got.filter((r) => r.path === '/redirect').length >= 1);
  assert.ok(!rx.got.some((r) => r.path === '/landing'), 'the Location was not followed');
  const [rd] = JSON.parse((await svc.app.inject({ url: `/subscriptions/${redirect.id}/deliveries`, headers: svc.auth('operator') })).body).items;
  assert.equal(rd.attempts[0].httpStatus, 302);
  assert.equal(rd.attempts[0].error, 'HTTP 302');
});

test('address classes: public addresses pass, every reserved range is named', () => {
  for (const a of ['8.8.8.8', '1.1.1.1', PUBLIC, '2606:4700:4700::1111', '2a00:1450:4001::200e']) assert.equal(addressClass(a), null, a);
  const cases: Array<[string, string]> = [
    ['127.255.0.1', 'loopback'], ['::1', 'loopback'], ['0.1.2.3', 'unspecified'], ['::', 'unspecified'], ['169.254.0.1', 'link-local'],
    ['fe80::abcd', 'link-local'], ['10.255.255.255', 'private'], ['172.31.0.1', 'private'], ['192.168.0.1', 'private'], ['fc12::1', 'private'],
    ['100.127.0.1', 'shared (CGNAT)'], ['239.1.1.1', 'multicast'], ['ff05::2', 'multicast'], ['240.0.0.1', 'reserved'], ['::ffff:10.0.0.1', 'private'],
    ['2002:7f00:1::', 'loopback'], ['2002:c0a8:101::1', 'private'],
  ];
  for (const [a, cls] of cases) assert.equal(addressClass(a), cls, a);
  assert.equal(addressClass('172.32.0.1'), null, 'just outside 172.16.0.0/12');
});
