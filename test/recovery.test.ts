// Recovery on the generated fixtures: the learned graph agrees with the true one clearly above
// chance, and detection beats a per-sensor z-score computed in the same test.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { initBackend } from '../src/flow/tf.ts';
import { readCsvFile } from '../src/adapters/csv-file.ts';
import { fitDetector, scoreTable } from '../src/detector.ts';
import { loadConfigFile, parseConfig } from '../src/config.ts';
import { auroc, edgeAuroc } from '../src/scoring/metrics.ts';
import { runBaseline } from '../src/scoring/baselines/index.ts';

before(async () => {
  await initBackend();
});

interface Truth { sensors: string[]; graph: { directed: boolean; edges: { source: string; target: string }[] } }

for (const name of ['grid', 'traffic']) {
  test(`${name} fixture: learned DAG recovers the network and GANF beats the z-score baseline`, async (t) => {
    const dir = `fixtures/${name}`;
    const truth = JSON.parse(await readFile(`${dir}/truth.json`, 'utf8')) as Truth;
    // The preset as shipped: the claim is the product's. (At half its training budget the traffic
    // fixture's GANF AUROC, 0.854, no longer beat the z-score's 0.855 once every continuous
    // sensor got a noise floor; at the preset's 600 steps it does, as in the bench.)
    const config = parseConfig(loadConfigFile(`config/${name}.json`));
    const train = await readCsvFile(`${dir}/train.csv`, { intervalMs: config.data.intervalMs });
    const testTable = await readCsvFile(`${dir}/test.csv`, { intervalMs: config.data.intervalMs });
    const { detector, report } = await fitDetector(train, config);

    const index = new Map(detector.sensors.map((s, i) => [s, i] as const));
    const truthPairs = truth.graph.edges
      .filter((e) => index.has(e.source) && index.has(e.target))
      .map((e) => [index.get(e.source)!, index.get(e.target)!] as [number, number]);
    const skeleton = edgeAuroc(report.train.learnedWeights, truthPairs, false);
    const directed = truth.graph.directed ? edgeAuroc(report.train.learnedWeights, truthPairs, true) : null;

    const scores = scoreTable(detector, testTable, { warmStart: true });
    const ganf = auroc(scores.total, testTable.labels!);
    const base = runBaseline('zscore', train, testTable, config);
    const baseline = auroc(base.scores, testTable.labels!);
    t.diagnostic(`${name}: edge AUROC (skeleton) ${skeleton.toFixed(3)}${directed !== null ? `, directed ${directed.toFixed(3)}` : ''}; ` +
      `detection AUROC GANF ${ganf.toFixed(3)} vs z-score ${baseline.toFixed(3)}; ${detector.graph.size} DAG edges; ${report.train.steps} steps`);
    assert.ok(skeleton > 0.65, `edge AUROC ${skeleton} is not clearly above chance (0.5)`);
    assert.ok(ganf > baseline, `GANF AUROC ${ganf} does not beat the z-score baseline ${baseline}`);
    detector.model.dispose();
  });
}
