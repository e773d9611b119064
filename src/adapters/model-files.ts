// A trained model on disk: one immutable directory with a manifest that says what everything is.
// Written to a temporary sibling, fsynced, then renamed, so a reader never sees half a model.
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { fsyncDir, writeFileSynced } from './fs-atomic.ts';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import path from 'node:path';
import { z } from 'zod';
import { GanfConfigSchema } from '../config.ts';
import { parseScalerState, type ScalerState } from '../data/preprocess.ts';
import { ThresholdStateSchema } from '../scoring/threshold.ts';
import { SensorCalibrationSchema } from '../scoring/calibration.ts';
import type { ParamSpec } from '../flow/params.ts';

export const MANIFEST_VERSION = 1;

export const ManifestSchema = z.object({
  format: z.literal('ganf-model'),
  manifestVersion: z.literal(MANIFEST_VERSION),
  modelVersion: z.string(),
  createdAt: z.string(),
  sensors: z.array(z.string()).min(1),
  features: z.array(z.string()).min(1),
  config: GanfConfigSchema,
  dataFingerprint: z.string(),
  libraries: z.record(z.string(), z.string()),
  backend: z.string(),
  params: z.array(z.object({ name: z.string(), shape: z.array(z.number().int()) })),
  threshold: ThresholdStateSchema,
  /** Per-sensor tail models of the validation NLLs: contributions are ranked by calibrated surprise. */
  calibration: SensorCalibrationSchema,
  metrics: z.record(z.string(), z.unknown()),
  files: z.object({ weights: z.string(), graph: z.string(), scaler: z.string(), context: z.string(), calibration: z.string() }),
});
export type Manifest = z.infer<typeof ManifestSchema>;

export interface ModelArtifact {
  manifest: Omit<Manifest, 'format' | 'manifestVersion' | 'files' | 'params'>;
  params: ParamSpec[];
  weights: Buffer;
  graph: unknown;
  scaler: ScalerState;
  /** The last raw training rows, standardised: warm-up context for scoring data that follows training. */
  context: Float32Array;
  /** Validation window NLLs [T*K]: refit calibration and threshold without retraining. */
  calibrationScores: Float32Array;
}

export async function saveModel(dir: string, a: ModelArtifact): Promise<void> {
  const target = path.resolve(dir);
  const tmp = `${target}.tmp-${process.pid}-${Date.now()}`;
  await mkdir(tmp, { recursive: true });
  const files = { weights: 'weights.bin', graph: 'graph.json', scaler: 'scaler.json', context: 'context.bin', calibration: 'calibration.bin' };
  const manifest: Manifest = { format: 'ganf-model', manifestVersion: MANIFEST_VERSION, ...a.manifest, params: a.params, files };
  await writeFileSynced(path.join(tmp, files.weights), a.weights);
  await writeFileSynced(path.join(tmp, files.graph), JSON.stringify(a.graph, null, 1));
  await writeFileSynced(path.join(tmp, files.scaler), JSON.stringify(a.scaler, null, 1));
  await writeFileSynced(path.join(tmp, files.context), Buffer.from(a.context.buffer, a.context.byteOffset, a.context.byteLength));
  const cs = a.calibrationScores;
  await writeFileSynced(path.join(tmp, files.calibration), Buffer.from(cs.buffer, cs.byteOffset, cs.byteLength));
  await writeFileSynced(path.join(tmp, 'manifest.json'), JSON.stringify(manifest, null, 2));
  await fsyncDir(tmp);
  await rm(target, { recursive: true, force: true });
  await rename(tmp, target);
  // The rename is durable only once the parent directory's entry is on disk.
  await fsyncDir(path.dirname(target));
}

export async function loadModel(dir: string): Promise<ModelArtifact & { manifest: Manifest }> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8'));
  } catch (e) {
    throw new Error(`${dir} is not a model directory (manifest.json: ${(e as Error).message})`);
  }
  const parsed = ManifestSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`${dir}/manifest.json is invalid: ${z.prettifyError(parsed.error)}`);
  }
  const m = parsed.data;
  const weights = await readFile(path.join(dir, m.files.weights));
  const ctx = await readFile(path.join(dir, m.files.context));
  const cal = await readFile(path.join(dir, m.files.calibration));
  return {
    manifest: m,
    params: m.params,
    weights,
    graph: JSON.parse(await readFile(path.join(dir, m.files.graph), 'utf8')),
    scaler: parseScalerState(JSON.parse(await readFile(path.join(dir, m.files.scaler), 'utf8'))),
    context: new Float32Array(ctx.buffer.slice(ctx.byteOffset, ctx.byteOffset + ctx.byteLength)),
    calibrationScores: new Float32Array(cal.buffer.slice(cal.byteOffset, cal.byteOffset + cal.byteLength)),
  };
}

/** Hash of the exact training values and sensor names: says which data a model was fitted on. */
export function fingerprint(sensors: string[], values: Float32Array): string {
  const h = createHash('sha256');
  h.update(sensors.join('\u0000'));
  h.update(Buffer.from(values.buffer, values.byteOffset, values.byteLength));
  return `sha256:${h.digest('hex').slice(0, 32)}`;
}

export function libraryVersions(): Record<string, string> {
  const require = createRequire(import.meta.url);
  const out: Record<string, string> = { node: process.version };
  for (const name of ['@tensorflow/tfjs-core', 'graphology', 'zod']) {
    try {
      out[name] = (require(`${name}/package.json`) as { version: string }).version;
    } catch {
      out[name] = 'unknown';
    }
  }
  return out;
}
