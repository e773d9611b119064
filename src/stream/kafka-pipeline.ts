/**
 * The Kafka pipeline: consumer group -> StreamProcessor (one per input partition) -> sinks ->
 * one Kafka transaction per batch -> resolve.
 *
 * Delivery semantics, per input-partition batch:
 *  1. parse, align and score the batch; rejected messages become dead-letter records;
 *  2. write scores, alerts and counters to the sinks (InfluxDB): idempotent, retried;
 *  3. in ONE transaction (transactional id "<group>-<topic>-<partition>"): the alert messages,
 *     the dead letters, the changed sites' state (checkpoint) and the consumer offset;
 *  4. only then mark the batch processed.
 * A crash anywhere before 3 completes aborts the transaction: the next owner of the partition
 * (this process restarted, or another group member) first initialises the partition's
 * transactional producer, which fences the old one and aborts its open transaction, then reads
 * the last committed checkpoint and resumes exactly where it left off. So steps are never lost
 * or double-counted in the state, every alert notification and dead letter is committed exactly
 * once to its topic (for read_committed consumers), and InfluxDB sees at most a rewrite of the
 * same points. A sink failure pauses the partition (doubling back-off) and rewinds it to its
 * checkpoint; nothing is committed past what the sinks hold.
 *
 * Model versions (src/stream/models.ts): each partition runs one version at a time, the one its
 * checkpoint names. When the source's target changes (the registry's active pointer), the
 * partition hands its sites over at the start of its next batch (StreamProcessor.handOver: the
 * new model warms up on each site's recent steps, the old model's open alerts are resolved), and
 * that batch's checkpoint records the new version and activation. A crash before that commit
 * restores the old version's state and hands over again at the same offset, so every step is
 * scored once, by the version the committed checkpoints say.
 */
import type { Detector } from '../detector.ts';
import { FixedModel, type ModelSource } from './models.ts';
import { STEPS_TOPIC_CONFIGS, stepRecordMessage } from './step-records.ts';
import {
  ensureTopics, type BatchControl, type IncomingMessage, type KafkaClient, type MessageBatch, type MessageConsumer, type OutgoingMessage, type TransactionalProducer,
} from '../adapters/kafka-client.ts';
import { chunkByBytes, deadLetterRecord, DEFAULT_DEAD_LETTER_MAX_BYTES } from '../adapters/dead-letter.ts';
import { StreamProcessor, type ProcessorSettings, type Rejection, type ScoredStep } from './processor.ts';
import { checkpointMessages, readCheckpoints, STATE_TOPIC_CONFIGS, type Position } from './checkpoint.ts';
import type { StreamOutput, StreamSink } from './sinks.ts';
import type { KafkaSettings } from './config.ts';
import { alertId, type Alert } from '../scoring/alert.ts';
import { messageKey } from './messages.ts';
import { z } from 'zod';
import { SinkSettingsSchema } from './config.ts';

export type SinkSettings = z.infer<typeof SinkSettingsSchema>;

export interface CommitInfo {
  partition: number;
  /** Next offset after this batch (committed). */
  nextOffset: string;
  messages: number;
  steps: ScoredStep[];
  alerts: Array<{ alert: Alert; step: ScoredStep | null }>;
  deadLetters: number;
  committedAtMs: number;
}

export interface PipelineStats {
  batches: number;
  messages: number;
  steps: number;
  alerts: number;
  deadLetters: number;
  restores: number;
  sinkFailures: number;
  commitFailures: number;
  seeks: number;
  /** Partitions handed over to a new model version. */
  handovers: number;
  /** Wall-clock milliseconds spent per stage (parse+align, score+alerts, sinks, checkpoint+transaction). */
  ms: { ingest: number; score: number; sinks: number; commit: number; restore: number };
}

export interface KafkaPipelineOptions {
  client: KafkaClient;
  /** The model: a fixed one (`detector`), or a source whose target may change (`models`; it wins). */
  detector?: Detector;
  models?: ModelSource;
  kafka: KafkaSettings;
  processing: ProcessorSettings;
  sinks: StreamSink[];
  sink?: Partial<SinkSettings>;
  log?: (msg: string) => void;
  onCommit?: (info: CommitInfo) => void;
  /** The consumer stopped for good (a crash the client does not recover from). */
  onFatal?: (err: Error) => void;
}

interface PartitionRuntime {
  partition: number;
  producer: TransactionalProducer | null;
  processor: StreamProcessor | null;
  nextOffset: bigint | null;
  deadLetters: number;
  needsRestore: boolean;
  /** The offset we last sought to; a second seek to it means the data is gone (retention). */
  soughtTo: bigint | null;
  failures: number;
  pausedUntil: number;
  resumeTimer: NodeJS.Timeout | null;
  /** A batch of this partition is being processed. */
  busy: boolean;
  /** Replaced after a rebalance or a failure: release when no longer busy. */
  dropped: boolean;
  /** Wall-clock time of the last batch with input (0: none yet). */
  lastInputAtMs: number;
  /** The registry activation the processor's version came from (null: a fixed model, or not known). */
  activation: string | null;
}

const headerSafe = (v: number) => (Number.isFinite(v) ? String(v) : '');

export class KafkaPipeline {
  readonly stats: PipelineStats = { batches: 0, messages: 0, steps: 0, alerts: 0, deadLetters: 0, restores: 0, sinkFailures: 0, commitFailures: 0, seeks: 0, handovers: 0, ms: { ingest: 0, score: 0, sinks: 0, commit: 0, restore: 0 } };
  private consumer: MessageConsumer | null = null;
  private generation = 0;
  private seenGeneration = -1;
  private assigned: number[] = [];
  private readonly partitions = new Map<number, PartitionRuntime>();
  private stopping = false;
  private tickTimer: NodeJS.Timeout | null = null;
  private ticking = false;
  private readonly log: (msg: string) => void;
  private readonly sinkSettings: SinkSettings;
  private readonly unknownReported = new Set<string>();
  /** Largest record (and produce batch) per output topic: the topics' max.message.bytes less framing room, read at start. */
  private readonly topicLimits = new Map<string, number>();
  private readonly models: ModelSource;
  /** Activations whose version cannot take over the stream's sites (logged once; the partition keeps its version). */
  private readonly refused = new Set<string>();

  constructor(private readonly o: KafkaPipelineOptions) {
    this.log = o.log ?? (() => {});
    if (!o.models && !o.detector) throw new Error('KafkaPipeline: give a detector or a model source');
    this.models = o.models ?? new FixedModel(o.detector!);
    this.sinkSettings = SinkSettingsSchema.parse(o.sink ?? {});
  }

  /** Input partitions this member owns (latest assignment). */
  get assignment(): number[] {
    return [...this.assigned];
  }

  get transactionalIdPrefix(): string {
    return `${this.o.kafka.groupId}-${this.o.kafka.inputTopic}-`;
  }

  /** Creates missing topics (input, alerts, dead letters, state) and checks the state topic fits the input. */
  async ensureTopics(): Promise<void> {
    const k = this.o.kafka;
    const admin = await this.o.client.admin();
    try {
      if (k.createTopics) await ensureTopics(admin, [{ topic: k.inputTopic, partitions: k.partitions }]);
      const [input] = await admin.describeTopics([k.inputTopic]);
      if (k.createTopics) {
        await ensureTopics(admin, [
          { topic: k.alertsTopic, partitions: input.partitions },
          { topic: k.deadLetterTopic, partitions: input.partitions },
          { topic: k.stateTopic, partitions: input.partitions, configs: STATE_TOPIC_CONFIGS },
          ...(k.stepsTopic ? [{ topic: k.stepsTopic, partitions: input.partitions, configs: STEPS_TOPIC_CONFIGS }] : []),
        ]);
      }
      const [state] = await admin.describeTopics([k.stateTopic]);
      if (state.partitions < input.partitions) {
        throw new Error(`state topic ${k.stateTopic} has ${state.partitions} partitions but input ${k.inputTopic} has ${input.partitions}: it needs at least as many`);
      }
      for (const t of [k.alertsTopic, k.deadLetterTopic, k.stateTopic, ...(k.stepsTopic ? [k.stepsTopic] : [])]) {
        // Room for the record batch header and per-record framing beyond what recordBytes counts.
        this.topicLimits.set(t, (await admin.maxMessageBytes(t)) - 1024);
      }
    } finally {
      await admin.close();
    }
  }

  async start(): Promise<void> {
    const k = this.o.kafka;
    await this.ensureTopics();
    const consumer = await this.o.client.consumer({
      groupId: k.groupId, topics: [k.inputTopic], fromBeginning: k.fromBeginning, commit: 'external',
      sessionTimeoutMs: k.sessionTimeoutMs, heartbeatIntervalMs: k.heartbeatIntervalMs, maxBytesPerPartition: k.maxBytesPerPartition,
      partitionsConsumedConcurrently: k.concurrency,
    });
    this.consumer = consumer;
    consumer.onCrash((err, restarting) => {
      this.log(`consumer crashed (${err.message}); ${restarting ? 'the client restarts it' : 'it will not restart'}`);
      if (!restarting) this.o.onFatal?.(err);
    });
    consumer.onAssignment((a) => {
      this.generation++;
      this.assigned = a[k.inputTopic] ?? [];
      this.log(`assigned partitions [${this.assigned.join(', ')}] of ${k.inputTopic}`);
    });
    await consumer.run((batch, control) => this.handle(batch, control));
    const every = this.o.processing.silence.wallClockTickMs;
    if (this.o.processing.silence.enabled && every > 0) {
      this.tickTimer = setInterval(() => {
        if (this.ticking || this.stopping) return;
        this.ticking = true;
        this.tickIdle(every).catch((err: Error) => this.log(`silence tick: ${err.message}`)).finally(() => { this.ticking = false; });
      }, every);
      this.tickTimer.unref();
    }
  }

  /**
   * The wall-clock edge of silence detection: a partition that received no input for `idleMs`
   * (caught up, nothing arriving) gets "now" as its record-time clock, so its sites' silence is
   * detected although no message moves the clock. What this decides depends on arrival time, not on
   * the message sequence alone; it is committed like a batch (alerts, checkpoint; offset unchanged).
   */
  private async tickIdle(idleMs: number): Promise<void> {
    for (const rt of [...this.partitions.values()]) {
      const now = Date.now();
      if (this.stopping || rt.lastInputAtMs > now - idleMs) continue;
      const gen = this.generation;
      const mine = await this.locked(async () => {
        if (this.seenGeneration !== gen || this.generation !== gen || this.partitions.get(rt.partition) !== rt || rt.busy || rt.dropped
          || rt.needsRestore || !rt.processor || rt.nextOffset === null || rt.pausedUntil > Date.now()) return false;
        rt.busy = true;
        return true;
      });
      if (!mine) continue;
      try {
        rt.processor!.advanceClock(now);
        if (rt.processor!.readySites().length > 0) await this.run(rt, gen, [], null, null);
      } finally {
        rt.busy = false;
        if (rt.dropped) await this.release(rt);
      }
    }
  }

  /** Graceful stop: no new batches, the one in progress finishes (writes, commits), the group is left, everything is flushed and closed. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    if (this.tickTimer) clearInterval(this.tickTimer);
    await this.consumer?.close();
    for (const rt of this.partitions.values()) await this.dropRuntime(rt);
    this.partitions.clear();
    for (const s of this.o.sinks) await s.close().catch((e: Error) => this.log(`closing sink ${s.name}: ${e.message}`));
  }

  /** Retires a runtime; a runtime in use is released by its handler when the batch ends. */
  private async dropRuntime(rt: PartitionRuntime): Promise<void> {
    rt.dropped = true;
    if (rt.resumeTimer) clearTimeout(rt.resumeTimer);
    rt.resumeTimer = null;
    if (!rt.busy) await this.release(rt);
  }

  private async release(rt: PartitionRuntime): Promise<void> {
    rt.processor?.dispose();
    rt.processor = null;
    const p = rt.producer;
    rt.producer = null;
    if (p) await p.close().catch(() => {});
  }

  private newRuntime(partition: number): PartitionRuntime {
    return { partition, producer: null, processor: null, nextOffset: null, deadLetters: 0, needsRestore: true, soughtTo: null, failures: 0, pausedUntil: 0, resumeTimer: null, busy: false, dropped: false, lastInputAtMs: 0, activation: null };
  }

  /** Fences earlier owners of these partitions, then rebuilds their state from the checkpoints. */
  private async restore(rts: PartitionRuntime[]): Promise<void> {
    const k = this.o.kafka;
    const started = Date.now();
    for (const rt of rts) await this.release(rt);
    // Initialising the transactional producer fences a previous owner and resolves its open
    // transaction, so the checkpoint read next is the final one.
    const settled = await Promise.allSettled(rts.map((rt) => this.o.client.transactionalProducer(`${this.transactionalIdPrefix}${rt.partition}`, { transactionTimeoutMs: k.transactionTimeoutMs })));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) {
      for (const r of settled) if (r.status === 'fulfilled') await r.value.close().catch(() => {});
      throw failed.reason;
    }
    rts.forEach((rt, i) => { rt.producer = (settled[i] as PromiseFulfilledResult<TransactionalProducer>).value; });
    const cps = await readCheckpoints(this.o.client, k.stateTopic, k.groupId, k.inputTopic, rts.map((r) => r.partition));
    for (const rt of rts) {
      const cp = cps.get(rt.partition)!;
      // The version that wrote the checkpoint restores it (exact state); the hand-over to the target, if any, follows at the next batch.
      const target = this.models.target();
      const wrote = cp.position ? await this.models.version(cp.position.modelVersion) : null;
      const detector = wrote ?? target.detector;
      const processor = new StreamProcessor(detector, this.o.processing);
      let restored = 0;
      for (const [site, snap] of cp.sites) {
        try {
          processor.restoreSite(snap);
          restored++;
        } catch (err) {
          this.log(`partition ${rt.partition}: site ${site} starts fresh: ${(err as Error).message}`);
        }
      }
      rt.processor = processor;
      rt.nextOffset = cp.position ? BigInt(cp.position.nextOffset) : null;
      rt.deadLetters = cp.position?.deadLetters ?? 0;
      rt.activation = wrote ? cp.position!.activation : target.activation;
      rt.needsRestore = false;
      rt.soughtTo = null;
      this.log(`partition ${rt.partition}: ${cp.position ? `restored ${restored} site(s) on model ${detector.modelVersion}, resuming at offset ${cp.position.nextOffset}` : `no checkpoint, starting fresh on model ${detector.modelVersion}`}`);
    }
    this.stats.restores += rts.length;
    this.stats.ms.restore += Date.now() - started;
    this.log(`restored ${rts.length} partition(s) in ${Date.now() - started} ms`);
  }

  /** Runs fn after every earlier holder of the lock is done (assignment changes and restores are serialised). */
  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.then(() => {}, () => {});
    return run;
  }

  private lock: Promise<void> = Promise.resolve();

  /** Brings the runtimes up to the current assignment; false if this batch must be left alone. */
  private prepare(gen: number, partition: number): Promise<PartitionRuntime | null> {
    return this.locked(async () => {
      if (this.seenGeneration !== gen) {
        if (this.generation !== gen) return null;
        // New assignment: drop every partition's in-memory state (another member may have moved it on).
        for (const rt of this.partitions.values()) await this.dropRuntime(rt);
        this.partitions.clear();
        for (const p of this.assigned) this.partitions.set(p, this.newRuntime(p));
        this.consumer?.resume(this.o.kafka.inputTopic, this.assigned); // pauses of an earlier assignment do not carry over
        this.seenGeneration = gen;
      }
      const rt = this.partitions.get(partition);
      if (!rt || rt.pausedUntil > Date.now() || rt.busy) return null; // not ours (any more), paused, or in use: leave unresolved
      const pending = [...this.partitions.values()].filter((r) => r.needsRestore && !r.busy && r.pausedUntil <= Date.now());
      if (pending.length) {
        try {
          await this.restore(pending);
        } catch (err) {
          if (isKafkaProtocolError(err)) throw err;
          for (const r of pending) {
            r.needsRestore = true;
            this.pause(r, new Error(`restoring the checkpoint failed: ${(err as Error).message}`));
          }
          return null;
        }
      }
      if (this.generation !== gen || rt.needsRestore || !rt.processor) return null;
      rt.busy = true;
      return rt;
    });
  }

  private async handle(batch: MessageBatch, control: BatchControl): Promise<void> {
    if (this.stopping) return;
    const gen = this.generation;
    const rt = await this.prepare(gen, batch.partition);
    if (!rt) return;
    try {
      await this.process(rt, gen, batch, control);
    } finally {
      rt.busy = false;
      if (rt.dropped) await this.release(rt);
    }
  }

  private async process(rt: PartitionRuntime, gen: number, batch: MessageBatch, control: BatchControl): Promise<void> {
    const k = this.o.kafka;

    let messages = batch.messages;
    const first = BigInt(messages[0].offset);
    const lastOffset = messages[messages.length - 1].offset;
    if (rt.nextOffset !== null) {
      if (first > rt.nextOffset) {
        if (rt.soughtTo !== rt.nextOffset) {
          // The consumer is ahead of the checkpoint (e.g. an older commit was fetched): re-read from the checkpoint.
          rt.soughtTo = rt.nextOffset;
          this.stats.seeks++;
          this.consumer!.seek(k.inputTopic, rt.partition, String(rt.nextOffset));
          return;
        }
        this.log(`partition ${rt.partition}: offsets ${rt.nextOffset}..${first - 1n} are no longer in the log (retention); continuing at ${first}`);
      }
      messages = messages.filter((m) => BigInt(m.offset) >= rt.nextOffset!);
    }
    if (messages.length === 0) {
      control.resolveOffset(lastOffset);
      return;
    }

    rt.lastInputAtMs = Date.now();
    await this.run(rt, gen, messages, lastOffset, control);
  }

  /**
   * Ingests `messages` (none for a clock tick), scores, writes the sinks and commits alerts, dead
   * letters, checkpoint and offset (unchanged for a tick) in one transaction. On failure the
   * partition is rebuilt from its checkpoint before it goes on.
   */
  private async run(rt: PartitionRuntime, gen: number, messages: IncomingMessage[], lastOffset: string | null, control: Pick<BatchControl, 'heartbeat' | 'resolveOffset'> | null): Promise<void> {
    const k = this.o.kafka;
    this.followTarget(rt);
    const processor = rt.processor!;
    const dead: OutgoingMessage[] = [];
    const output: StreamOutput = { steps: [], alerts: [], stats: [] };
    const alerts: Array<{ alert: Alert; step: ScoredStep | null }> = [];
    const ms = this.stats.ms;
    try {
      let t = performance.now();
      const lap = () => {
        const now = performance.now();
        const d = now - t;
        t = now;
        return d;
      };
      const dlqLimit = this.limitOf(k.deadLetterTopic);
      const toDead = (rs: Rejection[]) => { for (const r of rs) dead.push(deadLetterRecord(r.message, r.kind, r.error, dlqLimit)); };
      for (const m of messages) {
        try {
          toDead(processor.ingest(m));
        } catch (err) {
          // A bug triggered by one message must not stall the partition: it is dead-lettered like bad input.
          toDead([{ message: m, kind: 'processing-error', error: `processing failed: ${(err as Error).message}` }]);
        }
      }
      ms.ingest += lap();
      for (const out of processor.scoreReady()) {
        output.steps.push(...out.steps);
        alerts.push(...out.alerts);
        toDead(out.rejected);
      }
      await control?.heartbeat();
      output.alerts = alerts.map((a) => a.alert);
      const dirty = processor.takeDirty();
      output.stats = dirty.map((s) => processor.stats(s));
      this.reportUnknown(output);
      ms.score += lap();

      for (const sink of this.o.sinks) await this.writeWithRetry(sink, output);
      await control?.heartbeat();
      ms.sinks += lap();
      if (this.generation !== gen || rt.dropped || !rt.producer) {
        rt.needsRestore = true; // rebalanced mid-batch: the new owner redoes it from the checkpoint
        return;
      }
      const position: Position = {
        v: 1, groupId: k.groupId, topic: k.inputTopic, partition: rt.partition, nextOffset: lastOffset === null ? String(rt.nextOffset) : String(BigInt(lastOffset) + 1n),
        modelVersion: processor.modelVersion, activation: rt.activation, deadLetters: rt.deadLetters + dead.length, updatedAt: new Date().toISOString(),
      };
      const txn = await rt.producer.begin();
      try {
        const send = async (topic: string, records: OutgoingMessage[]) => {
          for (const chunk of chunkByBytes(records, this.limitOf(topic))) await txn.send(topic, chunk);
        };
        await send(k.alertsTopic, alerts.map(({ alert, step }) => ({
          key: messageKey(alert.labels.site),
          value: JSON.stringify(alert),
          headers: { 'alert-id': alertId(alert), 'alert-status': alert.status, 'ganf-trigger-produced-at': step ? headerSafe(step.lastArrivalMs) : '' },
        })));
        await send(k.deadLetterTopic, dead);
        if (k.stepsTopic) {
          await send(k.stepsTopic, output.steps.map((st) => stepRecordMessage({
            v: 1, site: st.site, tsMs: st.tsMs, modelVersion: st.model.version, score: st.total, exceed: st.exceed, usable: st.usable, degraded: st.degraded, values: Array.from(st.values),
          })));
        }
        await send(k.stateTopic, checkpointMessages(position, dirty.map((s) => processor.snapshotSite(s))));
        await txn.sendOffsets(k.groupId, k.inputTopic, [{ partition: rt.partition, offset: position.nextOffset }]);
        await txn.commit();
      } catch (err) {
        await txn.abort().catch(() => {});
        this.stats.commitFailures++;
        throw err;
      }
      ms.commit += lap();
      rt.nextOffset = BigInt(position.nextOffset);
      rt.deadLetters = position.deadLetters;
      rt.failures = 0;
      if (lastOffset !== null) control?.resolveOffset(lastOffset);
      this.stats.batches++;
      this.stats.messages += messages.length;
      this.stats.steps += output.steps.length;
      this.stats.alerts += alerts.length;
      this.stats.deadLetters += dead.length;
      this.o.onCommit?.({
        partition: rt.partition, nextOffset: position.nextOffset, messages: messages.length, steps: output.steps, alerts, deadLetters: dead.length, committedAtMs: Date.now(),
      });
    } catch (err) {
      // The in-memory state is ahead of the checkpoint now: rebuild it before the next batch.
      rt.needsRestore = true;
      if (isKafkaProtocolError(err)) throw err; // e.g. a rebalance: let the client rejoin
      if (rt.dropped) return; // reassigned meanwhile: whoever owns it now starts from the checkpoint
      this.pause(rt, err as Error);
    }
  }

  /**
   * Hands the partition over to the source's target version if it is a newer activation than the
   * partition's (called at a batch boundary, before the batch's messages). The batch's checkpoint
   * then records the new version; until it commits, a restore brings back the old one.
   */
  private followTarget(rt: PartitionRuntime): void {
    const t = this.models.target();
    const current = rt.processor!;
    if (t.activation === null) return; // a fixed model: nothing to follow
    if (rt.activation !== null && t.activation <= rt.activation) return; // not newer: this member has not seen a later activation yet
    if (t.detector.modelVersion === current.modelVersion) {
      rt.activation = t.activation; // re-activated (e.g. a promotion and its rollback between two batches): nothing to hand over
      return;
    }
    if (this.refused.has(t.activation)) return;
    const reason = `model changed: ${current.modelVersion} -> ${t.detector.modelVersion}`;
    let next: StreamProcessor;
    try {
      next = current.handOver(t.detector, reason);
    } catch (err) {
      this.refused.add(t.activation);
      this.log(`partition ${rt.partition}: stays on model ${current.modelVersion}: ${(err as Error).message}`);
      return;
    }
    current.dispose();
    rt.processor = next;
    rt.activation = t.activation;
    this.stats.handovers++;
    this.log(`partition ${rt.partition}: ${reason} at offset ${rt.nextOffset ?? '(start)'} (${next.siteNames.length} site(s) handed over)`);
  }

  private limitOf(topic: string): number {
    return this.topicLimits.get(topic) ?? DEFAULT_DEAD_LETTER_MAX_BYTES;
  }

  private async writeWithRetry(sink: StreamSink, out: StreamOutput): Promise<void> {
    const { attempts, retryDelayMs } = this.sinkSettings;
    for (let i = 1; ; i++) {
      try {
        await sink.write(out);
        return;
      } catch (err) {
        this.stats.sinkFailures++;
        if (i >= attempts) throw new Error(`sink ${sink.name}: ${(err as Error).message}`);
        await new Promise((r) => setTimeout(r, retryDelayMs * i));
      }
    }
  }

  /** Stops fetching the partition for a while; it resumes from its checkpoint. */
  private pause(rt: PartitionRuntime, err: Error): void {
    const k = this.o.kafka;
    rt.failures++;
    const ms = Math.min(this.sinkSettings.pauseMs * 2 ** (rt.failures - 1), this.sinkSettings.maxPauseMs);
    rt.pausedUntil = Date.now() + ms;
    this.log(`partition ${rt.partition}: ${err.message}; paused for ${ms} ms, then resuming from the last checkpoint`);
    this.consumer?.pause(k.inputTopic, [rt.partition]);
    if (rt.resumeTimer) clearTimeout(rt.resumeTimer);
    rt.resumeTimer = setTimeout(() => {
      rt.resumeTimer = null;
      if (this.stopping || this.partitions.get(rt.partition) !== rt) return;
      this.consumer?.resume(k.inputTopic, [rt.partition]);
    }, ms);
  }

  private reportUnknown(out: StreamOutput): void {
    for (const s of out.stats) {
      for (const sensor of Object.keys(s.unknown)) {
        const key = `${s.site}\u0000${sensor}`;
        if (this.unknownReported.has(key) || this.unknownReported.size > 10000) continue;
        this.unknownReported.add(key);
        this.log(`site ${s.site}: readings for sensor "${sensor}", which the model does not know, are counted and ignored`);
      }
    }
  }
}

function isKafkaProtocolError(err: unknown): boolean {
  const name = (err as { name?: string })?.name ?? '';
  return name.startsWith('KafkaJS') && /Rebalanc|NotCoordinator|UnknownMember|IllegalGeneration/i.test(`${name} ${(err as Error).message}`);
}
