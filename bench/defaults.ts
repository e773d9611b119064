// The detector as a new user meets it on data no preset was written for: every dataset fitted with
// the default config (only how to read the file is taken from its preset: defaultConfigOf), GANF
// beside the baselines under the same config (same validation tail, score window, threshold
// rule), on the same splits as the preset rows, scored by the same metric code. The held-back
// evaluation runs the default config wherever no preset fits, so these are its numbers. The graph
// ablations (A = 0, random DAG) under the same config too, except on SKAB (as its preset rows).
import { ablationOn, benchConfig, defaultConfigOf, runMethods, evaluateMethods, summaryTable, detailTable, type BenchRow, type Split } from './methods.ts';
import { fixtureSplit } from './fixtures.ts';
import { batadalSplit, gridstageSplit, losloopSplit, skabRows } from './real-data.ts';

async function row(dataset: string, split: Split): Promise<BenchRow> {
  const config = defaultConfigOf(split.config);
  const out = await runMethods(split.train, split.test, config, { warmStart: split.warmStart, ablation: ablationOn() });
  console.log(`[bench] defaults: ${dataset} done`);
  return { dataset, protocol: 'default config, preset split', sensors: out.ganf!.sensors.length, methods: evaluateMethods(out, split.test, split.cells) };
}

export async function defaultConfigBacktests(root: string | null): Promise<{ rows: unknown[]; markdown: string[] }> {
  const rows: BenchRow[] = [];
  for (const name of ['grid', 'traffic']) rows.push(await row(name, await fixtureSplit(name)));
  if (root) {
    rows.push(await row('BATADAL', await batadalSplit(root)));
    rows.push(...(await skabRows(root, defaultConfigOf(benchConfig('skab')))));
    rows.push(await row('GridSTAGE s18', await gridstageSplit(root)));
    rows.push(await row('Los-loop', await losloopSplit(root)));
  }
  return {
    rows,
    markdown: [
      'Every dataset with the default config: only the preset\'s data block (how to read the file) is kept, no model, training, graph (Los-loop: no road prior) or threshold setting; the baselines under the same config. Same splits as the preset rows; SKAB: mean over runs of each run\'s value.', '',
      ...summaryTable(rows), '',
      ...detailTable(rows),
    ],
  };
}
