/**
 * Our own small messaging interface, with a kafkajs implementation.
 *
 * The streaming pipeline depends only on the interfaces below (MessageProducer,
 * MessageConsumer, TopicAdmin, KafkaClient), never on kafkajs types: kafkajs is in
 * maintenance mode, and this seam lets a librdkafka-based client replace it later.
 * Such a replacement must keep two behaviours callers rely on:
 *  - keyed messages are partitioned with murmur2 like the Java client (kafkajs'
 *    DefaultPartitioner; in librdkafka set `partitioner: 'murmur2_random'`), so a key
 *    keeps its partition whichever client produced it;
 *  - a consumer's batch handler commits its offsets only after it resolves
 *    (at-least-once delivery);
 *  - with `commit: 'external'` the consumer never commits: offsets are committed inside a
 *    producer transaction (Transaction.sendOffsets) together with the records it produced,
 *    and each input partition's transactional id fences a previous owner (pre-KIP-447 EOS).
 */
import { randomBytes } from 'node:crypto';
import kafkajs, { Kafka, Partitioners, logLevel as KafkaLogLevel, type Admin, type Consumer, type Producer, type Transaction as KafkajsTransaction } from 'kafkajs';

export interface OutgoingMessage {
  /** Messages with the same key go to the same partition (murmur2, as the Java client). */
  key?: string;
  /** A string is sent as UTF-8; a Buffer byte for byte (e.g. a dead-lettered original payload); null as a null value. */
  value: string | Buffer | null;
  headers?: Record<string, string>;
  /** Explicit partition; overrides the key's partition. */
  partition?: number;
  /** Record timestamp (CreateTime); default: the producer's clock. */
  timestampMs?: number;
}

export interface IncomingMessage {
  topic: string;
  partition: number;
  /** Kafka offsets are 64-bit: kept as decimal strings. */
  offset: string;
  key: string | null;
  value: string | null;
  /** Milliseconds since the epoch (producer create time or broker log-append time). */
  timestampMs: number;
  headers: Record<string, string>;
  /** The value's bytes exactly as received (null for a tombstone); `value` is their UTF-8 decoding. */
  rawValue?: Buffer | null;
}

export interface MessageBatch {
  topic: string;
  partition: number;
  messages: IncomingMessage[];
  /** The partition's high watermark when the batch was fetched (offset of the next record to be written). */
  highWatermark?: string;
}

/** What a batch handler can do besides reading its messages. */
export interface BatchControl {
  /** Tells the group coordinator the consumer is alive; call it during long batches (cheap, rate-limited). */
  heartbeat(): Promise<void>;
  /** False once the consumer is stopping: finish or abandon the batch quickly. */
  isRunning(): boolean;
  /** True when a seek made this batch obsolete. */
  isStale(): boolean;
  /**
   * With `commit: 'external'`: marks the batch processed up to and including `offset`, so the
   * consumer fetches past it. Not calling it makes the consumer fetch the same messages again.
   */
  resolveOffset(offset: string): void;
}

export type BatchHandler = (batch: MessageBatch, control: BatchControl) => Promise<void>;

export interface MessageProducer {
  /** Sends the messages and resolves once the broker acknowledged them (acks=all). */
  send(topic: string, messages: OutgoingMessage[]): Promise<void>;
  close(): Promise<void>;
}

export interface PartitionOffset {
  partition: number;
  /** The next offset to consume (last processed + 1), as Kafka commits it. */
  offset: string;
}

/** One Kafka transaction: its records and consumer offsets become visible together or not at all. */
export interface Transaction {
  send(topic: string, messages: OutgoingMessage[]): Promise<void>;
  /** Commits the group's consumer offsets as part of this transaction. */
  sendOffsets(groupId: string, topic: string, offsets: PartitionOffset[]): Promise<void>;
  commit(): Promise<void>;
  abort(): Promise<void>;
}

/**
 * A producer with a transactional id. Connecting it fences any earlier producer with the same id
 * (a crashed or partitioned-away owner): that producer's open transaction is aborted and its
 * later writes fail.
 */
export interface TransactionalProducer {
  readonly transactionalId: string;
  begin(): Promise<Transaction>;
  close(): Promise<void>;
}

export interface MessageConsumer {
  /**
   * Starts consuming the subscribed topics and resolves once the consumer is running;
   * the handler is then called for each batch (one topic-partition at a time). Offsets of
   * a batch are committed only after its handler resolves; if it throws, the batch is
   * delivered again.
   */
  run(handler: BatchHandler): Promise<void>;
  /** Stops fetching these partitions (already fetched batches may still be delivered). */
  pause(topic: string, partitions: number[]): void;
  resume(topic: string, partitions: number[]): void;
  /** The next batch of this partition starts at `offset` (only while running and assigned). */
  seek(topic: string, partition: number, offset: string): void;
  /** Called with the member's whole assignment after every rebalance. */
  onAssignment(listener: (assignment: Record<string, number[]>) => void): void;
  /** Called when the consumer fails; `restarting` says whether the client recovers by itself. */
  onCrash(listener: (error: Error, restarting: boolean) => void): void;
  /** Stops fetching, waits for the batch in progress to finish, leaves the group and disconnects. */
  close(): Promise<void>;
}

export interface TopicSpec {
  topic: string;
  partitions: number;
  /** Defaults to 1 (single-node development broker). */
  replicationFactor?: number;
  /** Topic-level configs, e.g. { 'retention.ms': '86400000' }. */
  configs?: Record<string, string>;
}

export interface TopicDescription {
  topic: string;
  partitions: number;
}

export interface PartitionWatermarks {
  partition: number;
  /** Earliest offset still in the log. */
  low: string;
  /** Offset the next record will get. */
  high: string;
}

export interface TopicAdmin {
  listTopics(): Promise<string[]>;
  /** Creates the topics; resolves to the names actually created (existing ones are skipped). */
  createTopics(topics: TopicSpec[]): Promise<string[]>;
  describeTopics(topics: string[]): Promise<TopicDescription[]>;
  /** Low and high watermark of every partition of a topic. */
  fetchWatermarks(topic: string): Promise<PartitionWatermarks[]>;
  /** The group's committed offsets for a topic ('-1' where nothing was committed). */
  fetchCommittedOffsets(groupId: string, topic: string): Promise<PartitionOffset[]>;
  deleteTopics(topics: string[]): Promise<void>;
  /** The topic's effective `max.message.bytes` (the largest record batch the broker accepts for it). */
  maxMessageBytes(topic: string): Promise<number>;
  close(): Promise<void>;
}

export interface ConsumerOptions {
  groupId: string;
  topics: string[];
  /** Where a group without committed offsets starts: the earliest (true) or only new messages (false, default). */
  fromBeginning?: boolean;
  /**
   * 'auto' (default): offsets are committed after each batch handler resolves. 'external': the
   * consumer never commits and the handler resolves offsets itself (BatchControl.resolveOffset);
   * offsets are committed in a producer transaction (Transaction.sendOffsets).
   */
  commit?: 'auto' | 'external';
  /** A member that sent no heartbeat for this long is removed from the group. Default 30000 (broker minimum 6000). */
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  /** Upper bound of one fetch per partition. Default 1 MiB. */
  maxBytesPerPartition?: number;
  /** How long a fetch may wait for data. Default 5000. */
  maxWaitTimeMs?: number;
  /** Batches of different partitions handled at the same time (handlers interleave at their awaits). Default 1. */
  partitionsConsumedConcurrently?: number;
}

export interface ReadToEndOptions {
  /** Give up after this long. Default 30000. */
  timeoutMs?: number;
}

export interface KafkaClient {
  producer(): Promise<MessageProducer>;
  /** A transactional producer; connecting it fences earlier producers with the same id. */
  transactionalProducer(transactionalId: string, options?: { transactionTimeoutMs?: number }): Promise<TransactionalProducer>;
  consumer(options: ConsumerOptions): Promise<MessageConsumer>;
  admin(): Promise<TopicAdmin>;
  /**
   * Reads the committed records of some partitions of a topic from the beginning up to their
   * current end (as of the call), in offset order per partition, without joining any group that
   * commits: the restore path for a changelog (compacted) topic. Aborted records are skipped.
   */
  readToEnd(topic: string, partitions: number[], onMessage: (message: IncomingMessage) => void, options?: ReadToEndOptions): Promise<void>;
}

export type ClientLogLevel = 'nothing' | 'error' | 'warn' | 'info' | 'debug';

export interface KafkaClientOptions {
  /** e.g. ['127.0.0.1:9092'] */
  brokers: string[];
  clientId: string;
  /** Client library logging, to stderr. Default 'warn'. */
  logLevel?: ClientLogLevel;
  /** TCP connect timeout per broker, ms. Default 3000. */
  connectionTimeoutMs?: number;
  /** Request timeout, ms. Default 30000. */
  requestTimeoutMs?: number;
}

const LOG_LEVELS: Record<ClientLogLevel, KafkaLogLevel> = {
  nothing: KafkaLogLevel.NOTHING,
  error: KafkaLogLevel.ERROR,
  warn: KafkaLogLevel.WARN,
  info: KafkaLogLevel.INFO,
  debug: KafkaLogLevel.DEBUG,
};

/** Creates topics that do not exist yet; resolves to the names it created. */
export async function ensureTopics(admin: TopicAdmin, topics: TopicSpec[]): Promise<string[]> {
  for (const spec of topics) {
    if (!Number.isInteger(spec.partitions) || spec.partitions < 1) {
      throw new Error(`topic ${spec.topic}: partitions must be a positive integer, got ${spec.partitions}`);
    }
  }
  const existing = new Set(await admin.listTopics());
  const missing = topics.filter((t) => !existing.has(t.topic));
  if (missing.length === 0) return [];
  return admin.createTopics(missing);
}

/** A KafkaClient backed by kafkajs. */
export function createKafkaClient(options: KafkaClientOptions): KafkaClient {
  if (options.brokers.length === 0) throw new Error('createKafkaClient: at least one broker is required');
  const kafka = new Kafka({
    clientId: options.clientId,
    brokers: options.brokers,
    logLevel: LOG_LEVELS[options.logLevel ?? 'warn'],
    connectionTimeout: options.connectionTimeoutMs ?? 3000,
    requestTimeout: options.requestTimeoutMs ?? 30000,
  });
  return {
    async producer() {
      const producer = kafka.producer({
        createPartitioner: Partitioners.DefaultPartitioner,
        allowAutoTopicCreation: false,
      });
      await producer.connect();
      return new KafkajsProducer(producer);
    },
    async transactionalProducer(transactionalId, opts = {}) {
      const producer = kafka.producer({
        createPartitioner: Partitioners.DefaultPartitioner,
        allowAutoTopicCreation: false,
        transactionalId,
        idempotent: true,
        maxInFlightRequests: 1,
        transactionTimeout: opts.transactionTimeoutMs ?? 60000,
      });
      // connect() runs InitProducerId for the transactional id: this is the fencing step.
      await producer.connect();
      return new KafkajsTransactionalProducer(producer, transactionalId);
    },
    async consumer(opts) {
      const consumer = kafka.consumer({
        groupId: opts.groupId,
        allowAutoTopicCreation: false,
        sessionTimeout: opts.sessionTimeoutMs ?? 30000,
        heartbeatInterval: opts.heartbeatIntervalMs ?? 3000,
        maxBytesPerPartition: opts.maxBytesPerPartition ?? 1048576,
        maxWaitTimeInMs: opts.maxWaitTimeMs ?? 5000,
      });
      await consumer.connect();
      try {
        await consumer.subscribe({ topics: opts.topics, fromBeginning: opts.fromBeginning ?? false });
      } catch (err) {
        await consumer.disconnect().catch(() => {});
        throw err;
      }
      return new KafkajsConsumer(consumer, opts.commit ?? 'auto', opts.partitionsConsumedConcurrently ?? 1);
    },
    async admin() {
      const admin = kafka.admin();
      await admin.connect();
      return new KafkajsAdmin(admin);
    },
    readToEnd: (topic, partitions, onMessage, opts = {}) => readToEnd(kafka, options.clientId, topic, partitions, onMessage, opts.timeoutMs ?? 30000),
  };
}

async function readToEnd(
  kafka: Kafka, clientId: string, topic: string, partitions: number[], onMessage: (message: IncomingMessage) => void, timeoutMs: number,
): Promise<void> {
  if (partitions.length === 0) return;
  const admin = kafka.admin();
  await admin.connect();
  let ends: Map<number, string>;
  try {
    const offsets = await admin.fetchTopicOffsets(topic);
    ends = new Map(offsets.filter((o) => partitions.includes(o.partition)).map((o) => [o.partition, o.high]));
    const lows = new Map(offsets.map((o) => [o.partition, o.low]));
    for (const p of partitions) {
      if (!ends.has(p)) throw new Error(`readToEnd: ${topic} has no partition ${p}`);
      if (BigInt(ends.get(p)!) <= BigInt(lows.get(p)!)) ends.delete(p); // empty: nothing to read
    }
  } finally {
    await admin.disconnect().catch(() => {});
  }
  if (ends.size === 0) return;
  const remaining = new Set(ends.keys());
  // A throwaway group that never commits, so every read starts at the beginning.
  const consumer = kafka.consumer({ groupId: `${clientId}-read-${randomBytes(6).toString('hex')}`, allowAutoTopicCreation: false, maxWaitTimeInMs: 200 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    let done!: () => void;
    const finished = new Promise<void>((resolve) => { done = resolve; });
    // END_BATCH_PROCESS also fires for batches that held only control records or aborted data,
    // so the position can reach the end even when the last records are transaction markers.
    consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
      if (payload.topic !== topic || !remaining.has(payload.partition)) return;
      if (BigInt(payload.lastOffset) >= BigInt(ends.get(payload.partition)!) - 1n) {
        remaining.delete(payload.partition);
        if (remaining.size === 0) done();
      }
    });
    const unwanted = new Set<number>();
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        if (!ends.has(batch.partition)) {
          if (!unwanted.has(batch.partition)) {
            unwanted.add(batch.partition);
            consumer.pause([{ topic, partitions: [batch.partition] }]);
          }
          return;
        }
        const end = BigInt(ends.get(batch.partition)!);
        for (const m of batch.messages) {
          if (BigInt(m.offset) >= end) break;
          onMessage(incoming(topic, batch.partition, m));
        }
      },
    });
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`readToEnd: ${topic} partitions ${[...remaining].join(',')} not read to the end after ${timeoutMs} ms`)), timeoutMs);
    });
    await Promise.race([finished, timeout]).finally(() => clearTimeout(timer));
  } finally {
    await consumer.disconnect().catch(() => {});
  }
}

function incoming(topic: string, partition: number, m: { offset: string; key: Buffer | null | undefined; value: Buffer | null; timestamp: string; headers?: Record<string, unknown> }): IncomingMessage {
  return {
    topic,
    partition,
    offset: m.offset,
    key: m.key === null || m.key === undefined ? null : m.key.toString('utf8'),
    value: m.value === null ? null : m.value.toString('utf8'),
    rawValue: m.value,
    timestampMs: Number(m.timestamp),
    headers: decodeHeaders(m.headers),
  };
}

function toKafkajsMessages(messages: OutgoingMessage[]) {
  return messages.map((m) => ({ key: m.key, value: m.value, headers: m.headers, partition: m.partition, ...(m.timestampMs === undefined ? {} : { timestamp: String(m.timestampMs) }) }));
}

class KafkajsProducer implements MessageProducer {
  constructor(private readonly producer: Producer) {}

  async send(topic: string, messages: OutgoingMessage[]): Promise<void> {
    if (messages.length === 0) return;
    await this.producer.send({ topic, acks: -1, messages: toKafkajsMessages(messages) });
  }

  async close(): Promise<void> {
    await this.producer.disconnect();
  }
}

class KafkajsTransactionalProducer implements TransactionalProducer {
  constructor(private readonly producer: Producer, readonly transactionalId: string) {}

  async begin(): Promise<Transaction> {
    const txn: KafkajsTransaction = await this.producer.transaction();
    return {
      async send(topic, messages) {
        if (messages.length === 0) return;
        await txn.send({ topic, acks: -1, messages: toKafkajsMessages(messages) });
      },
      async sendOffsets(groupId, topic, offsets) {
        if (offsets.length === 0) return;
        await txn.sendOffsets({ consumerGroupId: groupId, topics: [{ topic, partitions: offsets.map((o) => ({ partition: o.partition, offset: o.offset })) }] });
      },
      commit: () => txn.commit(),
      abort: () => txn.abort(),
    };
  }

  async close(): Promise<void> {
    await this.producer.disconnect();
  }
}

class KafkajsConsumer implements MessageConsumer {
  private running = false;
  private readonly listeners: Array<(assignment: Record<string, number[]>) => void> = [];

  constructor(private readonly consumer: Consumer, private readonly commit: 'auto' | 'external', private readonly concurrency: number) {
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      const assignment: Record<string, number[]> = {};
      for (const [topic, parts] of Object.entries(payload.memberAssignment)) assignment[topic] = [...parts].sort((a, b) => a - b);
      for (const l of this.listeners) l(assignment);
    });
  }

  onAssignment(listener: (assignment: Record<string, number[]>) => void): void {
    this.listeners.push(listener);
  }

  onCrash(listener: (error: Error, restarting: boolean) => void): void {
    this.consumer.on(this.consumer.events.CRASH, ({ payload }) => listener(payload.error, payload.restart));
  }

  async run(handler: BatchHandler): Promise<void> {
    if (this.running) throw new Error('MessageConsumer.run: already running');
    this.running = true;
    const external = this.commit === 'external';
    await this.consumer.run({
      autoCommit: !external,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: this.concurrency,
      eachBatch: async ({ batch, resolveOffset, heartbeat, isRunning, isStale }) => {
        if (!isRunning() || isStale() || batch.messages.length === 0) return;
        await handler(
          {
            topic: batch.topic,
            partition: batch.partition,
            highWatermark: batch.highWatermark,
            messages: batch.messages.map((m) => incoming(batch.topic, batch.partition, m)),
          },
          {
            heartbeat: () => heartbeat(),
            isRunning,
            isStale,
            resolveOffset: (offset) => {
              if (!external) throw new Error('BatchControl.resolveOffset: only with commit: "external"');
              resolveOffset(offset);
            },
          },
        );
        if (!external) resolveOffset(batch.lastOffset());
        await heartbeat();
      },
    });
  }

  pause(topic: string, partitions: number[]): void {
    if (partitions.length > 0) this.consumer.pause([{ topic, partitions }]);
  }

  resume(topic: string, partitions: number[]): void {
    if (partitions.length > 0) this.consumer.resume([{ topic, partitions }]);
  }

  seek(topic: string, partition: number, offset: string): void {
    this.consumer.seek({ topic, partition, offset });
  }

  async close(): Promise<void> {
    this.running = false;
    await this.consumer.disconnect();
  }
}

class KafkajsAdmin implements TopicAdmin {
  constructor(private readonly admin: Admin) {}

  listTopics(): Promise<string[]> {
    return this.admin.listTopics();
  }

  async createTopics(topics: TopicSpec[]): Promise<string[]> {
    if (topics.length === 0) return [];
    const existing = new Set(await this.admin.listTopics());
    const toCreate = topics.filter((t) => !existing.has(t.topic));
    if (toCreate.length === 0) return [];
    await this.admin.createTopics({
      waitForLeaders: true,
      topics: toCreate.map((t) => ({
        topic: t.topic,
        numPartitions: t.partitions,
        replicationFactor: t.replicationFactor ?? 1,
        configEntries: Object.entries(t.configs ?? {}).map(([name, value]) => ({ name, value })),
      })),
    });
    return toCreate.map((t) => t.topic);
  }

  async describeTopics(topics: string[]): Promise<TopicDescription[]> {
    const { topics: metadata } = await this.admin.fetchTopicMetadata({ topics });
    return metadata.map((t) => ({ topic: t.name, partitions: t.partitions.length }));
  }

  async fetchWatermarks(topic: string): Promise<PartitionWatermarks[]> {
    const offsets = await this.admin.fetchTopicOffsets(topic);
    return offsets.map((o) => ({ partition: o.partition, low: o.low, high: o.high })).sort((a, b) => a.partition - b.partition);
  }

  async fetchCommittedOffsets(groupId: string, topic: string): Promise<PartitionOffset[]> {
    const res = await this.admin.fetchOffsets({ groupId, topics: [topic] });
    const t = res.find((r) => r.topic === topic);
    return (t?.partitions ?? []).map((p) => ({ partition: p.partition, offset: p.offset })).sort((a, b) => a.partition - b.partition);
  }

  async deleteTopics(topics: string[]): Promise<void> {
    if (topics.length === 0) return;
    await this.admin.deleteTopics({ topics });
  }

  async maxMessageBytes(topic: string): Promise<number> {
    // Through the default export: Node's CommonJS named-export detection misses this enum.
    const res = await this.admin.describeConfigs({ includeSynonyms: false, resources: [{ type: kafkajs.ConfigResourceTypes.TOPIC, name: topic, configNames: ['max.message.bytes'] }] });
    const entry = res.resources[0]?.configEntries.find((e) => e.configName === 'max.message.bytes');
    const n = Number(entry?.configValue);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`topic ${topic}: no max.message.bytes in its config`);
    return n;
  }

  async close(): Promise<void> {
    await this.admin.disconnect();
  }
}

function decodeHeaders(headers: Record<string, unknown> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, raw] of Object.entries(headers ?? {})) {
    const value = Array.isArray(raw) ? raw[raw.length - 1] : raw;
    if (value === undefined || value === null) continue;
    out[name] = Buffer.isBuffer(value) ? value.toString('utf8') : String(value);
  }
  return out;
}
