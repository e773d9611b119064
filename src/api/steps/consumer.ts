// Reads the steps topic `ganf serve` writes (one record per scored step, committed with the
// stream's checkpoints; kafkajs reads read_committed) into LiveSteps. Offsets are committed after
// a batch is taken in (at-least-once; LiveSteps skips a step it already has). A record that is not
// a valid step is counted and skipped: it cannot be scored again, and must not block drift.
import { ensureTopics, type KafkaClient, type MessageConsumer } from '../../adapters/kafka-client.ts';
import { parseStepRecord, STEPS_TOPIC_CONFIGS } from '../../stream/step-records.ts';
import type { LiveSteps } from './live-steps.ts';

export interface StepsConsumerOptions {
  topic: string;
  groupId: string;
  fromBeginning: boolean;
}

export class StepsTopicConsumer {
  private consumer: MessageConsumer | undefined;
  processed = 0;
  invalid = 0;
  lastError: string | null = null;

  constructor(private readonly kafka: KafkaClient, private readonly live: LiveSteps, private readonly opts: StepsConsumerOptions) {}

  async start(): Promise<void> {
    const admin = await this.kafka.admin();
    try {
      await ensureTopics(admin, [{ topic: this.opts.topic, partitions: 1, configs: STEPS_TOPIC_CONFIGS }]);
    } finally {
      await admin.close();
    }
    this.consumer = await this.kafka.consumer({ groupId: this.opts.groupId, topics: [this.opts.topic], fromBeginning: this.opts.fromBeginning });
    await this.consumer.run(async (batch) => {
      for (const m of batch.messages) {
        this.processed++;
        try {
          this.live.observe(parseStepRecord(m.value));
        } catch (err) {
          this.invalid++;
          this.lastError = `${m.topic}/${m.partition}@${m.offset}: ${(err as Error).message}`;
        }
      }
    });
  }

  async close(): Promise<void> {
    await this.consumer?.close().catch(() => {});
  }
}
