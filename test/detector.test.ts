// The detector as a user drives it: fit, save, load, score; and the CLI's error messages.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { initBackend } from '../src/flow/tf.ts';
import { readCsvFile } from '../src/adapters/csv-file.ts';
import { selectSensors, sliceRows } from '../src/data/table.ts';
import { fitDetector, scoreTable, saveDetector, loadDetector, topContributors } from '../src/detector.ts';
import { applyOverrides, loadConfigFile, parseConfig } from '../src/config.ts';
import { alertEpisodes } from '../src/scoring/backtest.ts';

const run = promisify(execFile);
const CLI = ['--import', 'tsx', 'src/cli/main.ts'];

before(async () => {
  await initBackend();
});

const tiny = { 'train.maxSteps': 30, 'train.evalEvery': 10, 'model.hidden': 8, 'model.condition': 8, 'model.flowHidden': 8 };

test('the drift baseline\'s bucket follows the training data\'s cadence, not the declared interval', async () => {
  const config = parseConfig(applyOverrides(loadConfigFile('config/grid.json'), tiny));
  const fiveMinute = sliceRows(await readCsvFile('fixtures/grid/train.csv', { intervalMs: 300000 }), 0, 400);
  // The same rows read as hourly: a quarter day is 6 steps (the minimum), whatever data.intervalMs says.
  const hourly = { ...fiveMinute, timestamps: fiveMinute.timestamps.map((t) => t * 12) };
  assert.equal(config.data.intervalMs, 300000);
  const { detector } = await fitDetector(hourly, config);
  assert.equal(detector.config.model.baselineBucketSteps, 6);
  detector.model.dispose();
});

test('a saved model loads and reproduces its scores exactly; a different sensor set is refused by name', async () => {
  const config = parseConfig(applyOverrides(loadConfigFile('config/grid.json'), tiny));
  const train = sliceRows(await readCsvFile('fixtures/grid/train.csv', { intervalMs: 300000 }), 0, 600);
  const test_ = sliceRows(await readCsvFile('fixtures/grid/test.csv', { intervalMs: 300000 }), 0, 200);
  const { detector } = await fitDetector(train, config);
  const dir = await mkdtemp(path.join(tmpdir(), 'ganf-model-'));
  await saveDetector(detector, dir);
  const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8'));
  assert.equal(manifest.modelVersion, detector.modelVersion);
  assert.ok(manifest.dataFingerprint.startsWith('sha256:'));
  assert.ok(manifest.libraries['@tensorflow/tfjs-core']);
  assert.equal(manifest.config.model.baselineBucketSteps, 72, 'the drift baseline buckets a quarter day of the 5-minute training data');

  const loaded = await loadDetector(dir);
  const a = scoreTable(detector, test_, { warmStart: true });
  const b = scoreTable(loaded, test_, { warmStart: true });
  assert.deepEqual(Array.from(b.total), Array.from(a.total));
  assert.equal(loaded.graph.size, detector.graph.size);
  const top = topContributors(loaded, b, 10, 3);
  assert.equal(top.length, 3);
  for (const c of top) for (const p of c.parents) assert.ok(loaded.graph.hasEdge(p, c.sensor), `${p} is not a parent of ${c.sensor}`);

  const missing = selectSensors(test_, test_.sensors.filter((s) => s !== 'B05'));
  assert.throws(() => scoreTable(loaded, missing), /B05/);
  detector.model.dispose();
  loaded.model.dispose();
});

test('CLI: a bad config value is reported with its field path and the process exits 1', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'ganf-cli-'));
  const cfg = path.join(dir, 'bad.json');
  await writeFile(cfg, JSON.stringify({ model: { window: 1, encoder: 'sideways' } }));
  const err = await run('node', [...CLI, 'train', '--config', cfg, '--data', 'fixtures/grid/train.csv', '--out', path.join(dir, 'm')]).then(
    () => assert.fail('expected a failure'),
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(err.code, 1);
  assert.match(err.stderr, /model\.window/);
  assert.match(err.stderr, /model\.encoder/);
  assert.doesNotMatch(err.stderr, /\n\s+at /, 'no stack trace for a user error');
});

test('CLI: a garbage cell names its column and line', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'ganf-cli-'));
  const csv = path.join(dir, 'bad.csv');
  await writeFile(csv, 'timestamp,a,b\n2024-01-01T00:00:00Z,1,2\n2024-01-01T00:05:00Z,1,oops\n');
  const err = await run('node', [...CLI, 'train', '--data', csv, '--out', path.join(dir, 'm')]).then(
    () => assert.fail('expected a failure'),
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(err.code, 1);
  assert.match(err.stderr, /line 3/);
  assert.match(err.stderr, /"b"/);
});

test('CLI: train then score writes one row per step with contributors', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'ganf-cli-'));
  const model = path.join(dir, 'model');
  const cfg = path.join(dir, 'tiny.json');
  await writeFile(cfg, JSON.stringify(applyOverrides(loadConfigFile('config/grid.json'), tiny)));
  await run('node', [...CLI, 'train', '--config', cfg, '--data', 'fixtures/grid/train.csv', '--out', model]);
  const out = path.join(dir, 'scores.csv');
  const perSensor = path.join(dir, 'per-sensor.csv');
  const scored = await run('node', [...CLI, 'score', '--model', model, '--data', 'fixtures/grid/test.csv', '--out', out, '--warm-start', '--per-sensor', perSensor]);
  const lines = (await readFile(out, 'utf8')).trim().split('\n');
  assert.equal(lines[0], 'timestamp,score,alert,top1,top2,top3,label');
  assert.equal(lines.length, 1 + 1440);
  assert.match(lines[1], /^2024-01-11T00:00:00.000Z,-?\d+\.\d+,[01],B\d\d:/);
  const cells = (await readFile(perSensor, 'utf8')).trim().split('\n');
  const manifest = JSON.parse(await readFile(path.join(model, 'manifest.json'), 'utf8'));
  // The summary counts the steps above the threshold and the alerts the stream's rule makes of them.
  const rows = lines.slice(1).map((l) => l.split(','));
  const above = Uint8Array.from(rows, (r) => Number(r[2]));
  const sent = alertEpisodes(Float32Array.from(rows, (r) => Number(r[1])), above, Float64Array.from(rows, (r) => Date.parse(r[0])), manifest.threshold);
  assert.ok(sent.length > 0 && sent.length < above.reduce((a, b) => a + b, 0), `${sent.length} alerts from the exceeding steps`);
  assert.match(scored.stderr, new RegExp(`: ${above.reduce((a, b) => a + b, 0)} above threshold [\\d.-]+, ${sent.length} alert\\(s\\) under the stream's default alert rule`));
  assert.deepEqual(cells[0].split(','), ['timestamp', ...manifest.sensors]);
  assert.equal(cells.length, 1 + 1440);
  for (const v of cells[1].split(',').slice(1)) assert.ok(Number(v) >= 0 && Number.isFinite(Number(v)), v);

  // Another aggregate and threshold on the same weights: a new version, no training.
  const re = path.join(dir, 'recalibrated');
  const { stderr } = await run('node', [...CLI, 'recalibrate', '--model', model, '--out', re, '--aggregate', 'max-sensor', '--threshold-level', '0.01']);
  assert.match(stderr, /aggregate max-sensor/);
  const m2 = JSON.parse(await readFile(path.join(re, 'manifest.json'), 'utf8'));
  assert.equal(m2.config.model.scoreAggregate, 'max-sensor');
  assert.equal(m2.config.threshold.level, 0.01);
  assert.notEqual(m2.modelVersion, manifest.modelVersion);
  assert.deepEqual(await readFile(path.join(re, 'weights.bin')), await readFile(path.join(model, 'weights.bin')));
  const bad = await run('node', [...CLI, 'recalibrate', '--model', model, '--out', re, '--aggregate', 'median']).then(() => assert.fail('expected a failure'), (e: { stderr: string }) => e);
  assert.match(bad.stderr, /model\.scoreAggregate/);
});

test('one glitch reading is clipped to the plausible range: every score stays finite and the steps after it score as without it', async () => {
  const config = parseConfig(applyOverrides(loadConfigFile('config/grid.json'), tiny));
  const train = sliceRows(await readCsvFile('fixtures/grid/train.csv', { intervalMs: 300000 }), 0, 600);
  const clean = sliceRows(await readCsvFile('fixtures/grid/test.csv', { intervalMs: 300000 }), 0, 200);
  const { detector } = await fitDetector(train, config);
  const K = clean.sensors.length;
  const glitched = { ...clean, values: Float32Array.from(clean.values) };
  glitched.values[50 * K + 3] = 1e6;
  glitched.values[51 * K + 3] = -1e30;
  const a = scoreTable(detector, clean, { warmStart: true });
  const b = scoreTable(detector, glitched, { warmStart: true });
  assert.ok(b.total.every(Number.isFinite) && b.surprise.every(Number.isFinite));
  const added = b.implausible.filter((x) => !a.implausible.some((y) => y.t === x.t && y.sensor === x.sensor));
  assert.deepEqual(added, [{ t: 50, sensor: clean.sensors[3] }, { t: 51, sensor: clean.sensors[3] }]);
  assert.ok(b.total[50] > a.total[50] && b.total[50] > detector.threshold.value, 'the glitch itself is anomalous');
  // Clipped, the glitch is a bounded disturbance of the carried state: 60 steps later the scores
  // are back to within 5 % of the threshold's scale of the clean run.
  for (let t = 120; t < 200; t++) assert.ok(Math.abs(b.total[t] - a.total[t]) < 0.05 * Math.abs(detector.threshold.value) + 0.05, `step ${t}: ${b.total[t]} vs ${a.total[t]}`);
  detector.model.dispose();
});
