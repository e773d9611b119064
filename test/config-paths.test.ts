import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { resolveConfigPaths } from '../src/config-paths.ts';
import { configFromFlags } from '../src/cli/options.ts';

test('a prior path in a config file is resolved against the file, not the working directory', () => {
  const raw = { dag: { prior: { path: '../../shared/data/los-loop/los_adj.csv', mode: 'restrict' } }, model: { window: 24 } };
  const out = resolveConfigPaths(raw, '/srv/project/config/los-loop.json') as typeof raw;
  assert.equal(out.dag.prior.path, '/srv/shared/data/los-loop/los_adj.csv');
  assert.equal(out.dag.prior.mode, 'restrict');
  assert.equal(raw.dag.prior.path, '../../shared/data/los-loop/los_adj.csv', 'input not mutated');
  const absolute = { dag: { prior: { path: '/data/adj.csv' } } };
  assert.deepEqual(resolveConfigPaths(absolute, '/x/c.json'), absolute);
  assert.deepEqual(resolveConfigPaths({ model: {} }, '/x/c.json'), { model: {} });
});

test('configFromFlags: the config file\'s prior is relative to it; --prior stays relative to the working directory', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ganf-cfg-'));
  const file = path.join(dir, 'preset.json');
  writeFileSync(file, JSON.stringify({ dag: { prior: { path: 'adj.csv' } } }));
  assert.equal(configFromFlags({ config: file }).dag.prior!.path, path.join(dir, 'adj.csv'));
  assert.equal(configFromFlags({ config: file, prior: 'mine.csv' }).dag.prior!.path, 'mine.csv');
});
