// Single entry point to tfjs for all model code: everything imports `tf` from here so there is
// exactly one tfjs-core instance, and `initBackend` picks the fastest backend that loads.
import * as tf from '@tensorflow/tfjs-core';
// tfjs-core's node bundle has the ops but not their gradients; the @tensorflow/tfjs bundle
// registers them (and the cpu kernels) on this same tfjs-core instance, whatever backend runs.
import '@tensorflow/tfjs';
import { createRequire } from 'node:module';
import path from 'node:path';

export { tf };

export type BackendName = 'tensorflow' | 'wasm' | 'cpu';

let active: BackendName | undefined;

function log(msg: string): void {
  if (process.env.GANF_QUIET_BACKEND !== '1') process.stderr.write(`[ganf] ${msg}\n`);
}

/**
 * Native libtensorflow (tfjs-node) where it loads, else WASM. The pure-JS cpu backend is only
 * used when asked for explicitly (GANF_BACKEND=cpu): it is about 100x slower for training.
 */
export async function initBackend(preferred: BackendName | undefined = envBackend()): Promise<BackendName> {
  if (active && (!preferred || preferred === active)) return active;
  const order: BackendName[] = preferred ? [preferred] : ['tensorflow', 'wasm'];
  const errors: string[] = [];
  for (const name of order) {
    try {
      await loadBackend(name);
      await tf.setBackend(name);
      await tf.ready();
      active = name;
      log(`tensor backend: ${name}${errors.length ? ` (fallback; ${errors.join('; ')})` : ''}`);
      return name;
    } catch (err) {
      errors.push(`${name} unavailable: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  throw new Error(`no tensor backend could be loaded: ${errors.join('; ')}`);
}

function envBackend(): BackendName | undefined {
  const v = process.env.GANF_BACKEND;
  if (!v) return undefined;
  if (v === 'tensorflow' || v === 'wasm' || v === 'cpu') return v;
  throw new Error(`GANF_BACKEND must be one of tensorflow, wasm, cpu (got "${v}")`);
}

async function loadBackend(name: BackendName): Promise<void> {
  if (name === 'tensorflow') {
    // libtensorflow's own INFO lines (oneDNN, CPU features) are noise for our users.
    process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
    await import('@tensorflow/tfjs-node');
  } else if (name === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const require = createRequire(import.meta.url);
    const dir = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm'));
    wasm.setWasmPaths(dir + path.sep);
  } else {
    // the cpu kernels come with @tensorflow/tfjs, imported above
  }
}

export function activeBackend(): BackendName | undefined {
  return active;
}
