import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfigFile } from '../src/config.ts';
import { configFromFlags } from '../src/cli/options.ts';

test('a prior path in a config file is resolved against the file, not the working directory', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ganf-cfg-'));
  const file = path.join(dir, 'config', 'los-loop.json');
  mkdirSync(path.dirname(file));
  writeFileSync(file, JSON.stringify({ dag: { prior: { path: '../../shared/data/los-loop/los_adj.csv', mode: 'restrict' } }, model: { window: 24 } }));
  const out = loadConfigFile(file) as { dag: { prior: { path: string; mode: string } } };
  assert.equal(out.dag.prior.path, path.resolve(dir, '../shared/data/los-loop/los_adj.csv'));
  assert.equal(out.dag.prior.mode, 'restrict');
  const abs = path.join(dir, 'abs.json');
  writeFileSync(abs, JSON.stringify({ dag: { prior: { path: '/data/adj.csv' } } }));
  assert.equal((loadConfigFile(abs) as { dag: { prior: { path: string } } }).dag.prior.path, '/data/adj.csv');
  // The project's own preset finds the shared data from any working directory.
  assert.equal((loadConfigFile('config/los-loop.json') as { dag: { prior: { path: string } } }).dag.prior.path, path.resolve('../shared/data/los-loop/los_adj.csv'));
});

test('configFromFlags: the config file\'s prior is relative to it; --prior stays relative to the working directory', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'ganf-cfg-'));
  const file = path.join(dir, 'preset.json');
  writeFileSync(file, JSON.stringify({ dag: { prior: { path: 'adj.csv' } } }));
  assert.equal(configFromFlags({ config: file }).dag.prior!.path, path.join(dir, 'adj.csv'));
  assert.equal(configFromFlags({ config: file, prior: 'mine.csv' }).dag.prior!.path, 'mine.csv');
});
