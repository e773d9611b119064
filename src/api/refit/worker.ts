// Worker-thread entry of a refit job: runs runRefit on workerData and reports progress, the
// result or the error to the parent. Training here never blocks the API's event loop.
import { parentPort, workerData } from 'node:worker_threads';
import { runRefit, type RefitInput } from './run.ts';

process.env.GANF_QUIET_BACKEND ??= '1';
const port = parentPort!;
try {
  const out = await runRefit(workerData as RefitInput, (phase, fraction) => port.postMessage({ type: 'progress', phase, fraction }));
  port.postMessage({ type: 'done', result: out });
} catch (err) {
  const e = err as Error;
  port.postMessage({ type: 'error', error: e.message, name: e.name });
}
