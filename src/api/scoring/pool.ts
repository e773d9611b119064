// POST /score off the event loop: one worker thread (score-worker.ts) parses, validates, scores
// and serialises one request at a time while the API keeps answering; at most `maxQueued` requests wait or run, beyond that the
// request is refused at once with 503 + retry-after instead of piling up memory and latency.
import type { Worker } from 'node:worker_threads';
import { startModuleWorker } from '../../util/worker.ts';
import { DataError } from '../../data/table.ts';
import { HttpProblem } from '../problems.ts';

export interface ScoreJob {
  id: number;
  /** Model directory of the version to score with. */
  dir: string;
  /** The raw request body (JSON), moved to the worker without a copy. */
  body: Uint8Array;
}

export interface ScoreResult {
  modelVersion: string;
  /** Steps scored. */
  steps: number;
  /** The response body, serialised in the worker. */
  json: string;
}

export type ScoreReply =
  | ({ id: number; ok: true } & ScoreResult)
  | { id: number; ok: false; kind: 'validation'; errors: Array<{ field: string; message: string }> }
  | { id: number; ok: false; kind: 'data' | 'internal'; field?: string; reason: string };


interface Pending {
  job: ScoreJob;
  resolve: (r: ScoreResult) => void;
  reject: (e: Error) => void;
}

export class ScoringPool {
  private worker: Worker | null = null;
  private readonly queue: Pending[] = [];
  private running: Pending | null = null;
  private nextId = 1;
  private closed = false;

  constructor(private readonly o: { maxQueued: number }) {}

  /** Requests waiting or running. */
  get load(): number {
    return this.queue.length + (this.running ? 1 : 0);
  }

  score(job: Omit<ScoreJob, 'id'>): Promise<ScoreResult> {
    if (this.closed) return Promise.reject(new HttpProblem(503, 'the service is shutting down'));
    if (this.load >= this.o.maxQueued) {
      return Promise.reject(new HttpProblem(503, `scoring is saturated (${this.load} requests in progress or waiting); retry shortly`, undefined, { 'retry-after': '1' }));
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ job: { ...job, id: this.nextId++ }, resolve, reject });
      this.pump();
    });
  }

  private spawn(): Worker {
    const w = startModuleWorker(import.meta.url, 'score-worker', { env: { ...process.env, GANF_QUIET: '1', GANF_QUIET_BACKEND: '1' } });
    w.on('message', (m: ScoreReply | { ready: true }) => {
      if ('ready' in m) return;
      const p = this.running;
      if (!p || p.job.id !== m.id) return;
      this.running = null;
      if (m.ok) {
        const { id: _id, ok: _ok, ...result } = m;
        p.resolve(result);
      } else if (m.kind === 'validation') {
        p.reject(new HttpProblem(400, `invalid ${m.errors.map((e) => e.field).join(', ')}: ${m.errors.map((e) => e.message).join('; ')}`, m.errors));
      } else if (m.kind === 'data') p.reject(new DataError({ field: m.field, reason: m.reason }));
      else p.reject(new Error(`scoring failed: ${m.reason}`));
      this.pump();
    });
    const lost = (why: string) => {
      if (this.worker !== w) return;
      this.worker = null;
      const p = this.running;
      this.running = null;
      p?.reject(new HttpProblem(503, `the scoring worker stopped (${why}); retry`, undefined, { 'retry-after': '1' }));
      this.pump();
    };
    w.on('error', (err) => lost(err.message));
    w.on('exit', (code) => lost(`exit code ${code}`));
    return w;
  }

  private pump(): void {
    if (this.closed || this.running) return;
    if (this.queue.length === 0) {
      // An idle worker must not keep the process alive; a busy one must (a caller awaits it).
      this.worker?.unref();
      return;
    }
    this.worker ??= this.spawn();
    this.worker.ref();
    this.running = this.queue.shift()!;
    const { body } = this.running.job;
    // Transfer the body's memory when it is the whole of its buffer (a copy otherwise).
    const whole = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.buffer instanceof ArrayBuffer;
    this.worker.postMessage(this.running.job, whole ? [body.buffer as ArrayBuffer] : []);
  }

  async close(): Promise<void> {
    this.closed = true;
    const w = this.worker;
    this.worker = null;
    for (const p of [...(this.running ? [this.running] : []), ...this.queue.splice(0)]) p.reject(new HttpProblem(503, 'the service is shutting down'));
    this.running = null;
    await w?.terminate();
  }
}
