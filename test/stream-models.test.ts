// RegistryFollower (src/stream/models.ts): what `ganf serve --models` runs. It refuses a models
// root without an active version and a malformed pointer with errors naming them, follows a
// promotion and a rollback written by the API's ModelRegistry (each a newer activation), and
// never loads a "version" outside the versions directory.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Detector } from '../src/detector.ts';
import { sliceRows } from '../src/data/table.ts';
import { ModelRegistry } from '../src/api/models/registry.ts';
import { RegistryFollower } from '../src/stream/models.ts';
import { fitTiny, fixtureRows, tinyConfig } from './helpers/api.ts';

let a: Detector;
let b: Detector;

before(async () => {
  const train = await fixtureRows('grid', 'train', 0, 800);
  a = await fitTiny(sliceRows(train, 0, 400));
  b = await fitTiny(sliceRows(train, 400, 800), tinyConfig('grid', { 'train.seed': 5 }));
});

after(() => {
  a?.model.dispose();
  b?.model.dispose();
});

test('a models root without an active version, or with a malformed pointer, is refused naming it', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'ganf-follow-'));
  await assert.rejects(RegistryFollower.open(root, { pollMs: 1000 }), new RegExp(`registry.modelsRoot ${root}: no active model version`));
  await writeFile(path.join(root, 'active'), JSON.stringify({ version: 'x', history: [] }));
  await assert.rejects(RegistryFollower.open(root, { pollMs: 1000 }), new RegExp(`${path.join(root, 'active')}: not an active-version pointer \\(changedAt: `));
});

test('the follower moves to each new activation (promotion, then rollback) and loads checkpoint versions by name only', async () => {
  const root = await mkdtemp(path.join(tmpdir(), 'ganf-follow-'));
  const reg = await ModelRegistry.open(root);
  await reg.addDetector(a, { origin: { kind: 'import', by: 'test' }, evaluation: null });
  await reg.addDetector(b, { origin: { kind: 'import', by: 'test' }, evaluation: null });
  await reg.promote(a.modelVersion, { by: 'test' });
  const logs: string[] = [];
  const f = await RegistryFollower.open(root, { pollMs: 60_000, log: (m) => logs.push(m) });
  try {
    const first = f.target();
    assert.equal(first.detector.modelVersion, a.modelVersion);
    assert.equal(first.activation, reg.activePointer()!.changedAt);

    await reg.promote(b.modelVersion, { by: 'test' });
    await f.poll();
    const second = f.target();
    assert.equal(second.detector.modelVersion, b.modelVersion);
    assert.ok(second.activation! > first.activation!, 'a later activation');
    assert.match(logs.join('\n'), new RegExp(`version ${b.modelVersion} active since`));

    await new Promise((r) => setTimeout(r, 5)); // changedAt has millisecond resolution
    await reg.rollback({ by: 'test' });
    await f.poll();
    const third = f.target();
    assert.equal(third.detector.modelVersion, a.modelVersion);
    assert.ok(third.activation! > second.activation!, 'a rollback is a newer activation of the older version');
    assert.equal(third.detector, first.detector, 'a version is loaded once');

    assert.equal((await f.version(b.modelVersion))?.modelVersion, b.modelVersion);
    assert.equal(await f.version('../../etc'), null);
    assert.match(logs.at(-1)!, /invalid model version name/);
  } finally {
    f.close();
    reg.dispose();
  }
});
