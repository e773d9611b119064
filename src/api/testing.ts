// Helpers for the API's tests and benchmark: tiny models fitted in seconds, a service in a
// temporary directory with one key per role, and sample alerts. Not used by the service itself.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { initBackend } from '../flow/tf.ts';
import { readCsvFile } from '../ingest/csv.ts';
import { sliceRows, type SeriesTable } from '../ingest/table.ts';
import { fitDetector, type Detector } from '../detector.ts';
import { applyOverrides, loadConfigFile, parseConfig, type GanfConfig } from '../config.ts';
import { parseApiConfig, type ApiConfigInput } from './config.ts';
import { createApiService, type ApiService, type ServiceOptions } from './server.ts';
import { ModelRegistry } from './models/registry.ts';

export const TINY = { 'train.maxSteps': 30, 'train.evalEvery': 10, 'model.hidden': 8, 'model.condition': 8, 'model.flowHidden': 8 };

export const TEST_KEYS = {
  reader: 'reader-key-0123456789abcdef',
  operator: 'operator-key-0123456789abcdef',
  admin: 'admin-key-0123456789abcdef0123',
} as const;

export function tinyConfig(preset: 'grid' | 'traffic' = 'grid', extra: Record<string, unknown> = {}): GanfConfig {
  return parseConfig(applyOverrides(loadConfigFile(`config/${preset}.json`), { ...TINY, ...extra }));
}

export async function fixtureRows(fixture: 'grid' | 'traffic', part: 'train' | 'test', start: number, end: number): Promise<SeriesTable> {
  const t = await readCsvFile(`fixtures/${fixture}/${part}.csv`, { intervalMs: 300000 });
  const { labels: _l, ...rest } = sliceRows(t, start, end);
  return rest;
}

export async function fitTiny(table: SeriesTable, config: GanfConfig = tinyConfig()): Promise<Detector> {
  await initBackend();
  return (await fitDetector(table, config)).detector;
}

export interface TestService extends ApiService {
  dir: string;
  url?: string;
  auth(role: keyof typeof TEST_KEYS): Record<string, string>;
}

/** A service in a fresh temporary directory; models are added and the first one promoted. */
export async function startTestService(models: Detector[], config: Partial<ApiConfigInput> = {}, opts: ServiceOptions = {}): Promise<TestService> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ganf-api-'));
  const modelsRoot = path.join(dir, 'models');
  const reg = await ModelRegistry.open(modelsRoot);
  for (const m of models) await reg.addDetector(m, { origin: { kind: 'import', by: 'test' }, evaluation: null });
  if (models.length) await reg.promote(models[0].modelVersion, { by: 'test' });
  reg.dispose();
  const cfg = parseApiConfig({
    port: 0,
    dataDir: path.join(dir, 'data'),
    modelsRoot,
    ...config,
    auth: {
      keys: [
        { name: 'reader', role: 'reader', key: TEST_KEYS.reader },
        { name: 'operator', role: 'operator', key: TEST_KEYS.operator },
        { name: 'admin', role: 'admin', key: TEST_KEYS.admin },
      ],
      ...(config.auth ?? {}),
    },
  });
  const service = await createApiService(cfg, opts);
  return Object.assign(service, {
    dir,
    auth: (role: keyof typeof TEST_KEYS) => ({ authorization: `Bearer ${TEST_KEYS[role]}` }),
  });
}

/** A flat alert as the streaming pipeline's alert engine produces it. */
export function sampleAlert(i: number, over: Record<string, unknown> = {}): Record<string, unknown> {
  const sites = ['north', 'south', 'east'];
  const severities = ['warning', 'critical'];
  const sensors = ['B01', 'B02', 'B03', 'B04', 'B05'];
  const start = Date.UTC(2024, 0, 11) + i * 3_600_000;
  return {
    fingerprint: `fp${String(i).padStart(4, '0')}`,
    status: 'firing',
    site: sites[i % sites.length],
    severity: severities[i % severities.length],
    startsAt: new Date(start).toISOString(),
    endsAt: null,
    modelVersion: 'm1',
    score: 40 + i,
    topSensors: [
      { sensor: sensors[i % sensors.length], excess: 5.5, parents: [sensors[(i + 1) % sensors.length]] },
      { sensor: sensors[(i + 2) % sensors.length], excess: 2.25, parents: [] },
    ],
    ...over,
  };
}
