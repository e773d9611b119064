#!/usr/bin/env node
// `ganf`: train, score, backtest, fixtures, demo. Errors are one readable line (plus the field),
// never a stack trace, unless GANF_DEBUG=1.
import { Command } from 'commander';
import { addDataOptions, addModelOptions } from './options.ts';
import { runTrain, runScore, runBacktest, runFixtures, runDemo, runRecalibrate } from './commands.ts';
import { runServe, runReplay } from './stream-commands.ts';

const program = new Command('ganf')
  .description('Graph-augmented normalizing flows for anomaly detection in sensor networks')
  .showHelpAfterError();

addModelOptions(addDataOptions(program.command('train').description('fit a model on a CSV of normal operation')))
  .requiredOption('--data <csv>', 'training CSV')
  .requiredOption('--out <dir>', 'model directory to write')
  .action((o) => runTrain(o));

addDataOptions(program.command('score').description('score a CSV with a trained model'))
  .requiredOption('--model <dir>', 'model directory')
  .requiredOption('--data <csv>', 'CSV to score')
  .requiredOption('--out <csv>', 'scores CSV to write')
  .option('--warm-start', 'the data directly follows the training data: use its tail as context')
  .option('--per-sensor <csv>', 'also write every sensor\'s calibrated surprise per step')
  .action((o) => runScore(o));

program.command('recalibrate').description('change a trained model\'s score aggregate or threshold without retraining (refitted from its stored validation scores)')
  .requiredOption('--model <dir>', 'model directory')
  .requiredOption('--out <dir>', 'model directory to write (a new version)')
  .option('--aggregate <mode>', 'top-k | max-sensor | joint')
  .option('--top-k <n>', 'k of top-k', Number)
  .option('--threshold-method <m>', 'spot | quantile')
  .option('--threshold-level <q>', 'risk level q of the alert threshold', Number)
  .action((o) => runRecalibrate(o));

addModelOptions(addDataOptions(program.command('backtest').description('train (or load) and evaluate on labelled data')))
  .option('--train <csv>', 'training CSV (normal operation)')
  .option('--test <csv>', 'labelled test CSV')
  .option('--data <csv>', 'one CSV, split in time with --split')
  .option('--split <fraction>', 'share of --data used for training', Number)
  .option('--model <dir>', 'use this trained model instead of training')
  .option('--save-model <dir>', 'also write the trained model here')
  .option('--per-sensor', 'also write per-sensor.csv: every sensor\'s calibrated surprise per step')
  .option('--truth <json>', 'truth file naming the sensors of each labelled interval (the fixtures\' truth.json), shown in report.html')
  .requiredOption('--out <dir>', 'output directory (scores.csv, metrics.json, report.html)')
  .action(async (o) => { await runBacktest(o); });

program.command('fixtures').description('regenerate the built-in grid and traffic fixtures')
  .option('--out <dir>', 'parent directory', 'fixtures')
  .option('--seed <n>', 'seed', Number)
  .action((o) => runFixtures(o));

program.command('demo').description('the main job on built-in defaults: train on the grid fixture, backtest it, then stream it through the in-process pipeline')
  .option('--fixture <name>', 'grid | traffic', 'grid')
  .option('--out <dir>', 'output directory', 'runs/demo')
  .action((o) => runDemo(o));

program.command('api').description('run the HTTP API: alerts, scores, graph, models, refits (see docs/api.md)')
  .option('--config <json>', 'API config file (config/api.json)')
  .option('--host <host>', 'listen address (default 127.0.0.1)')
  .option('--port <n>', 'listen port', Number)
  .option('--models <dir>', 'models root (versions/ and the active pointer)')
  .option('--data <dir>', 'data directory (alerts, subscriptions, jobs)')
  .action(async (o) => (await import('./api-commands.ts')).runApi(o));

program.command('serve').description('stream: score sensor messages from Kafka (or, without a broker, a CSV replayed in process) and raise alerts')
  .option('--config <file>', 'stream config JSON (see config/stream*.json and docs/streaming.md)')
  .option('--model <dir>', 'model directory (default runs/demo/model)')
  .option('--models <dir>', 'follow the model registry at this models root (the API\'s --models) instead of one --model directory')
  .option('--brokers <host:port,...>', 'Kafka brokers (without any, the in-process source is used)')
  .option('--group <id>', 'consumer group id')
  .option('--topic <name>', 'input topic')
  .option('--influx <url>', 'InfluxDB URL for scores and alerts')
  .option('--csv <file>', 'in-process source: CSV to replay')
  .option('--site <name>', 'in-process source: site name')
  .option('--speed <x>', 'in-process source: event time per wall-clock time (0 = as fast as possible)', Number)
  .option('--format <f>', 'in-process source: reading | snapshot')
  .option('--out <dir>', 'in-process source: where scores.csv and alerts.jsonl go')
  .option('--metrics-port <n>', 'serve Prometheus metrics at http://127.0.0.1:<n>/metrics (0 = any free port)', Number)
  .action((o) => runServe(o));

program.command('replay').description('stream a CSV into a Kafka topic as sensor messages, at a chosen rate')
  .requiredOption('--csv <file>', 'CSV to replay (e.g. fixtures/grid/test.csv)')
  .option('--topic <name>', 'topic to produce to (default: the config\'s input topic)')
  .option('--speed <x>', 'event time per wall-clock time: 1 = real time, 0 = as fast as possible', Number, 0)
  .option('--rate <n>', 'readings per second instead of --speed', Number)
  .option('--brokers <host:port,...>', 'Kafka brokers (default 127.0.0.1:9092 or the config\'s)')
  .option('--config <file>', 'stream config JSON to take brokers and topic from')
  .option('--site <name>', 'site name in the messages (the record key)', 'demo')
  .option('--format <f>', 'reading (one message per sensor and step) | snapshot (one per step)', 'reading')
  .option('--rebase', 'shift timestamps so the first row is now')
  .option('--partitions <n>', 'create the topic with this many partitions if it does not exist', Number)
  .option('--interval-ms <ms>', 'row spacing when the CSV has no timestamp column', Number)
  .option('--from-row <n>', 'start at this row (0-based)', Number)
  .option('--progress <file>', 'record the next row to send here after every acknowledged batch')
  .option('--resume', 'start where --progress says the last run stopped')
  .option('--retry-for <seconds>', 'keep retrying while the broker is unreachable this long (default 600)', Number)
  .action((o) => runReplay(o));

program.parseAsync(process.argv).catch((err: Error) => {
  if (process.env.GANF_DEBUG === '1') console.error(err);
  else console.error(`ganf: ${err.message}`);
  process.exitCode = 1;
});
