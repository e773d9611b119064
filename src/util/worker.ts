// Worker threads for modules of this package. Compiled (dist/, plain node) the entry is the .js
// beside the caller; from source it is the .ts, loaded through tsx's loader (a worker does not
// inherit the parent's --import), so tsx is needed in development only.
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** Starts `./<name>.js` (compiled) or `./<name>.ts` (source) relative to the module at `callerUrl`. */
export function startModuleWorker(callerUrl: string, name: string, options: WorkerOptions = {}): Worker {
  const fromSource = callerUrl.endsWith('.ts');
  const entry = new URL(`./${name}.${fromSource ? 'ts' : 'js'}`, callerUrl);
  if (!fromSource) return new Worker(entry, options);
  const tsxApi = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsxApi)}).then(({ register }) => { register(); return import(${JSON.stringify(entry.href)}); });`;
  return new Worker(boot, { ...options, eval: true });
}
