// The production build: `npm run build` compiles src/ to dist/, and `bin/ganf.mjs` runs it with
// plain node. A loader hook refuses any import of tsx in the child processes (and, through the
// inherited --import, in their worker threads), so these pass only if nothing at run time needs it.
// Commands run as a user would: --help, train on a small CSV, and the API running a refit, whose
// training happens in the compiled worker thread.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { cp, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const run = promisify(execFile);
const NO_TSX_HOOK = `data:text/javascript,${encodeURIComponent(`
import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(
  'export async function resolve(s, c, next) { if (s === "tsx" || s.startsWith("tsx/")) throw new Error("tsx imported at run time: " + s); return next(s, c); }'));
`)}`;
const NODE_ARGS = ['--import', NO_TSX_HOOK, 'bin/ganf.mjs'];
const env = { ...process.env, GANF_QUIET: '1', GANF_QUIET_BACKEND: '1', NODE_OPTIONS: '' };
const ADMIN_KEY = 'build-test-admin-key-0123456789';
let dir: string;
let api: ChildProcess | undefined;

before(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ganf-build-'));
  await run('npm', ['run', '--silent', 'build'], { env: process.env, maxBuffer: 16 << 20 });
});

after(async () => {
  api?.kill('SIGTERM');
  await rm(dir, { recursive: true, force: true });
});

test('npm run build emits the CLI and the refit worker as JavaScript', () => {
  for (const f of ['dist/cli/main.js', 'dist/api/refit/worker.js', 'dist/api/refit/jobs.js']) assert.ok(existsSync(f), `${f} is missing`);
  assert.ok(!existsSync('dist/api/testing.js'), 'test scaffolding must not be part of the build');
});

test('bin/ganf.mjs --help runs the compiled CLI with plain node', async () => {
  const { stdout } = await run(process.execPath, [...NODE_ARGS, '--help'], { env });
  for (const cmd of ['train', 'score', 'serve', 'replay', 'api']) assert.match(stdout, new RegExp(`^  ${cmd} `, 'm'));
});

test('train from dist, then the API from dist refits in its compiled worker thread', async () => {
  // A small training file (the grid fixture's first 800 rows) and a tiny model.
  const rows = (await readFile('fixtures/grid/train.csv', 'utf8')).trimEnd().split('\n').slice(0, 801);
  const data = path.join(dir, 'data');
  await mkdir(data);
  const csv = path.join(data, 'train.csv');
  await writeFile(csv, rows.join('\n') + '\n');
  const preset = JSON.parse(await readFile('config/grid.json', 'utf8'));
  preset.model = { ...preset.model, hidden: 8, condition: 8, flowHidden: 8 };
  preset.train = { ...preset.train, maxSteps: 20, evalEvery: 10 };
  const config = path.join(dir, 'tiny.json');
  await writeFile(config, JSON.stringify(preset));
  const model = path.join(dir, 'model');
  await run(process.execPath, [...NODE_ARGS, 'train', '--data', csv, '--config', config, '--out', model], { env, maxBuffer: 16 << 20 });
  const manifest = JSON.parse(await readFile(path.join(model, 'manifest.json'), 'utf8')) as { modelVersion: string; sensors: string[] };
  assert.equal(manifest.sensors.length, 27);

  // A registry with that model active, and `ganf api` on a free port.
  const models = path.join(dir, 'models');
  await cp(model, path.join(models, 'versions', manifest.modelVersion), { recursive: true });
  await writeFile(path.join(models, 'active'), JSON.stringify({ version: manifest.modelVersion, history: [], changedAt: new Date().toISOString(), reason: 'test', by: 'test' }));
  const apiConfig = path.join(dir, 'api.json');
  await writeFile(apiConfig, JSON.stringify({
    port: 0, dataDir: path.join(dir, 'api-data'), modelsRoot: models, fsync: false,
    auth: { keys: [{ name: 'admin', role: 'admin', key: ADMIN_KEY }] },
    refit: { dataDirs: [data] },
  }));
  const child = spawn(process.execPath, [...NODE_ARGS, 'api', '--config', apiConfig], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  api = child;
  let stderr = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (b: Buffer) => {
      stderr += b.toString();
      const m = /listening on (http:\/\/\S+)/.exec(stderr);
      if (m) resolve(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`ganf api exited (${code}): ${stderr}`)));
  });
  const headers = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
  const res = await fetch(`${url}/refit`, {
    method: 'POST', headers,
    body: JSON.stringify({ source: { kind: 'csv', path: csv }, autoPromote: false, warmStart: true, train: { maxSteps: 10, evalEvery: 5 } }),
  });
  assert.equal(res.status, 202, await res.clone().text());
  const job = (await res.json()) as { id: string };
  let status = '';
  let last: { status: string; error: string | null } = { status: '', error: null };
  for (let i = 0; i < 600 && !['succeeded', 'failed', 'cancelled'].includes(status); i++) {
    await new Promise((r) => setTimeout(r, 500));
    last = (await (await fetch(`${url}/jobs/${job.id}`, { headers })).json()) as typeof last;
    status = last.status;
  }
  assert.equal(status, 'succeeded', `refit job: ${JSON.stringify(last)}\n${stderr}`);
  const { items } = (await (await fetch(`${url}/models`, { headers })).json()) as { items: { version: string; status: string }[] };
  assert.deepEqual(items.map((m) => m.status).sort(), ['active', 'candidate'], JSON.stringify(items));
  child.kill('SIGTERM');
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  assert.equal(code, 0, stderr);
  api = undefined;
});
