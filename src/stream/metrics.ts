// Prometheus metrics of `ganf serve` (prom-client, with its default process metrics), served on
// their own HTTP port (`--metrics-port`, config `metrics.port`). Per-step figures come from a sink
// (so the in-process and Kafka modes report alike); the Kafka pipeline's batch and failure
// counters are read from its stats at scrape time.
import http from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { StreamOutput, StreamSink } from './sinks.ts';
import type { PipelineStats } from './kafka-pipeline.ts';

const LAG_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export class StreamMetrics {
  readonly registry = new Registry();
  private readonly r = [this.registry];
  readonly steps = new Counter({ name: 'ganf_stream_steps_total', help: 'Steps scored, by site', labelNames: ['site'], registers: this.r });
  readonly exceeding = new Counter({ name: 'ganf_stream_steps_exceeding_total', help: 'Scored steps above the model threshold, by site', labelNames: ['site'], registers: this.r });
  readonly degraded = new Counter({ name: 'ganf_stream_degraded_steps_total', help: 'Steps with a sensor missing beyond the carry-forward limit, by site', labelNames: ['site'], registers: this.r });
  readonly alerts = new Counter({ name: 'ganf_stream_alert_notifications_total', help: 'Alert notifications raised, by site and status (firing, resolved)', labelNames: ['site', 'status'], registers: this.r });
  readonly drifted = new Gauge({ name: 'ganf_stream_drifted_sensors', help: 'Sensors whose level the drift baseline takes off at the latest step (a refit would learn them), by site', labelNames: ['site'], registers: this.r });
  readonly stuck = new Gauge({ name: 'ganf_stream_stuck_sensors', help: 'Sensors repeating one reading for longer than they did in training at the latest step (stuck), by site', labelNames: ['site'], registers: this.r });
  readonly score = new Gauge({ name: 'ganf_stream_last_score', help: 'Anomaly score of the latest scored step, by site', labelNames: ['site'], registers: this.r });
  readonly stepLag = new Histogram({ name: 'ganf_stream_step_latency_seconds', help: 'From the last reading of a step reaching the broker to the step being scored (Kafka mode)', buckets: LAG_BUCKETS, registers: this.r });
  readonly ingest = new Gauge({ name: 'ganf_stream_site_ingest', help: 'Cumulative ingest counters per site (accepted, late, duplicates, filled cells, degraded steps, restarts, pending steps)', labelNames: ['counter', 'site'], registers: this.r });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  /** Counters of a Kafka pipeline, read from its stats at scrape time. */
  watchPipeline(stats: () => PipelineStats, assignment: () => number[]): void {
    const counter = (name: string, help: string, read: (s: PipelineStats) => number) =>
      new Counter({ name, help, registers: this.r, collect() { this.reset(); this.inc(read(stats())); } });
    counter('ganf_stream_messages_total', 'Input messages consumed', (s) => s.messages);
    counter('ganf_stream_batches_total', 'Input batches processed and committed', (s) => s.batches);
    counter('ganf_stream_dead_letters_total', 'Messages sent to the dead-letter topic', (s) => s.deadLetters);
    counter('ganf_stream_sink_failures_total', 'Failed sink writes (the partition pauses and retries)', (s) => s.sinkFailures);
    counter('ganf_stream_commit_failures_total', 'Failed transactions (the batch is processed again)', (s) => s.commitFailures);
    counter('ganf_stream_restores_total', 'Partition state restores from checkpoints', (s) => s.restores);
    counter('ganf_stream_handovers_total', 'Partitions handed over to a newly activated model version', (s) => s.handovers);
    new Counter({
      name: 'ganf_stream_stage_seconds_total', help: 'Wall-clock time per pipeline stage (ingest, score, sinks, commit, restore)', labelNames: ['stage'], registers: this.r,
      collect() {
        this.reset();
        for (const [stage, ms] of Object.entries(stats().ms)) this.inc({ stage }, ms / 1000);
      },
    });
    new Gauge({ name: 'ganf_stream_assigned_partitions', help: 'Input partitions this consumer owns', registers: this.r, collect() { this.set(assignment().length); } });
  }

  /** A sink that counts what the pipeline emits. */
  sink(): StreamSink {
    return {
      name: 'metrics',
      write: async (out: StreamOutput) => {
        const now = Date.now();
        for (const s of out.steps) {
          this.steps.inc({ site: s.site });
          if (s.exceed) this.exceeding.inc({ site: s.site });
          if (s.degraded) this.degraded.inc({ site: s.site });
          this.score.set({ site: s.site }, s.total);
          this.drifted.set({ site: s.site }, s.drifted.length);
          this.stuck.set({ site: s.site }, s.stuck.length);
          if (Number.isFinite(s.lastArrivalMs)) this.stepLag.observe(Math.max(0, now - s.lastArrivalMs) / 1000);
        }
        for (const a of out.alerts) this.alerts.inc({ site: a.labels.site, status: a.status });
        for (const st of out.stats) {
          for (const counter of ['accepted', 'late', 'duplicates', 'filledCells', 'degradedSteps', 'restarts', 'pendingSteps'] as const) {
            this.ingest.set({ counter, site: st.site }, st[counter]);
          }
        }
      },
      close: async () => {},
    };
  }

  /** Serves GET /metrics on host:port; resolves to the bound address. */
  async listen(host: string, port: number): Promise<{ url: string; close: () => Promise<void> }> {
    const server = http.createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n');
        return;
      }
      this.registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': this.registry.contentType }).end(text);
      }, (err: Error) => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`);
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const addr = server.address();
    const bound = typeof addr === 'object' && addr ? addr.port : port;
    return { url: `http://${host}:${bound}/metrics`, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
  }
}
