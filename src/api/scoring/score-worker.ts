// Worker-thread entry of POST /score: parses and validates the raw request body, loads model
// versions (cached, one at a time), scores, and serialises the response, so a large request
// never blocks the API's event loop. One job at a time; the main thread (pool.ts) queues and
// bounds them.
import { parentPort } from 'node:worker_threads';
import { loadDetector, scoreTable, topContributors, type Detector } from '../../detector.ts';
import { DataError, type SeriesTable } from '../../data/table.ts';
import { initBackend } from '../../flow/tf.ts';
import { readingsToTable } from './readings.ts';
import { bodyIssues, ScoreBodySchema } from './score-body.ts';
import type { ScoreJob, ScoreReply } from './pool.ts';

process.env.GANF_QUIET_BACKEND ??= '1';
const port = parentPort!;
await initBackend();
let cached: { dir: string; det: Detector } | null = null;

async function detector(dir: string): Promise<Detector> {
  if (cached?.dir !== dir) {
    cached?.det.model.dispose();
    cached = null;
    cached = { dir, det: await loadDetector(dir) };
  }
  return cached.det;
}

/** The first step whose score is not finite, named by the reading and sensor behind it. */
function nonFinite(det: Detector, table: SeriesTable, s: ReturnType<typeof scoreTable>): DataError | null {
  const K = det.sensors.length;
  for (let t = 0; t < s.total.length; t++) {
    if (Number.isFinite(s.total[t])) continue;
    // Window scores: the first non-finite step is the one whose own reading made it so.
    const row = table.timestamps.indexOf(s.timestamps[t]);
    let k = 0;
    while (k < K - 1 && Number.isFinite(s.perSensor[t * K + k])) k++;
    return new DataError({ field: `body.readings.${row}.values.${det.sensors[k]}`, reason: 'this reading makes the score non-finite (far outside what the model was trained on)' });
  }
  return null;
}

async function run(job: ScoreJob): Promise<ScoreReply> {
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(job.body).toString('utf8'));
  } catch (err) {
    return { id: job.id, ok: false, kind: 'validation', errors: [{ field: 'body', message: `not valid JSON: ${(err as Error).message}` }] };
  }
  const parsed = ScoreBodySchema.safeParse(raw);
  if (!parsed.success) return { id: job.id, ok: false, kind: 'validation', errors: bodyIssues(parsed.error) };
  const body = parsed.data;
  const det = await detector(job.dir);
  const table = readingsToTable(body.readings, det.features, 'body.readings');
  const s = scoreTable(det, table, { warmStart: body.warmStart });
  const bad = nonFinite(det, table, s);
  if (bad) throw bad;
  const steps = Array.from(s.total, (score, t) => ({
    timestamp: new Date(s.timestamps[t]).toISOString(),
    score,
    alert: s.alerts[t] === 1,
    top: body.top > 0 ? topContributors(det, s, t, Math.min(body.top, det.sensors.length)) : [],
  }));
  const json = JSON.stringify({ modelVersion: det.modelVersion, threshold: det.threshold.value, steps, missing: { filled: s.missing.filled, droppedRows: s.missing.droppedRows } });
  return { id: job.id, ok: true, modelVersion: det.modelVersion, steps: steps.length, json };
}

port.on('message', async (job: ScoreJob) => {
  let reply: ScoreReply;
  try {
    reply = await run(job);
  } catch (err) {
    const e = err as Error;
    reply = e instanceof DataError
      ? { id: job.id, ok: false, kind: 'data', field: e.field, reason: e.reason }
      : { id: job.id, ok: false, kind: 'internal', reason: e.message };
  }
  port.postMessage(reply);
});
