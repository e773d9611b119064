#!/usr/bin/env node
// `ganf`: train, score, backtest, fixtures, demo. Errors are one readable line (plus the field),
// never a stack trace, unless GANF_DEBUG=1.
import { Command } from 'commander';
import { addDataOptions, addModelOptions } from './options.ts';
import { runTrain, runScore, runBacktest, runFixtures, runDemo } from './commands.ts';
import { runApi } from './api-commands.ts';

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
  .action((o) => runScore(o));

addModelOptions(addDataOptions(program.command('backtest').description('train (or load) and evaluate on labelled data')))
  .option('--train <csv>', 'training CSV (normal operation)')
  .option('--test <csv>', 'labelled test CSV')
  .option('--data <csv>', 'one CSV, split in time with --split')
  .option('--split <fraction>', 'share of --data used for training', Number)
  .option('--model <dir>', 'use this trained model instead of training')
  .option('--save-model <dir>', 'also write the trained model here')
  .requiredOption('--out <dir>', 'output directory (scores.csv, metrics.json)')
  .action(async (o) => { await runBacktest(o); });

program.command('fixtures').description('regenerate the built-in grid and traffic fixtures')
  .option('--out <dir>', 'parent directory', 'fixtures')
  .option('--seed <n>', 'seed', Number)
  .action((o) => runFixtures(o));

program.command('demo').description('the main job on built-in defaults: train on the grid fixture and backtest it')
  .option('--fixture <name>', 'grid | traffic', 'grid')
  .option('--out <dir>', 'output directory', 'runs/demo')
  .action((o) => runDemo(o));

program.command('api').description('run the HTTP API: alerts, scores, graph, models, refits (see docs/api.md)')
  .option('--config <json>', 'API config file (config/api.json)')
  .option('--host <host>', 'listen address (default 127.0.0.1)')
  .option('--port <n>', 'listen port', Number)
  .option('--models <dir>', 'models root (versions/ and the active pointer)')
  .option('--data <dir>', 'data directory (alerts, subscriptions, jobs)')
  .action((o) => runApi(o));

program.parseAsync(process.argv).catch((err: Error) => {
  if (process.env.GANF_DEBUG === '1') console.error(err);
  else console.error(`ganf: ${err.message}`);
  process.exitCode = 1;
});
