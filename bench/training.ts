// Training time as a new user meets it: `ganf train --data file.csv` with the default config (no
// preset: only how to read the file), on the first n rows of the grid fixture's training file and
// of BATADAL's (all its columns, and its 19 continuous sensors alone: the tank levels and the
// junction pressures, about the shape of the 4,000-row, 18-sensor example), every size
// fitted three times in turn (the machine is shared: the median is reported, and each fit's
// optimiser steps, which the data size sets, beside it).
import path from 'node:path';
import { readCsvFile } from '../src/adapters/csv-file.ts';
import { fitDetector } from '../src/detector.ts';
import { csvOptionsOf, type GanfConfig } from '../src/config.ts';
import { selectSensors, sliceRows, tableLength, type SeriesTable } from '../src/data/table.ts';
import { benchConfig, defaultConfigOf } from './methods.ts';

const REPEATS = 3;

interface Case {
  data: string;
  rows: number;
  sensors: number;
  table: SeriesTable;
  config: GanfConfig;
}

interface TrainingRow {
  data: string;
  rows: number;
  sensors: number;
  steps: number[];
  seconds: number[];
  medianSeconds: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

const defaultConfig = (preset: string): GanfConfig => defaultConfigOf(benchConfig(preset));

async function cases(root: string | null): Promise<Case[]> {
  const out: Case[] = [];
  const add = (data: string, table: SeriesTable, config: GanfConfig, sizes: number[]) => {
    for (const rows of sizes.filter((n) => n <= tableLength(table))) {
      out.push({ data, rows, sensors: table.sensors.length, table: sliceRows(table, 0, rows), config });
    }
  };
  const grid = defaultConfig('grid');
  add('grid fixture train.csv', await readCsvFile('fixtures/grid/train.csv', csvOptionsOf(grid.data)), grid, [500, 1000, 2000, 2880]);
  if (root) {
    const config = defaultConfig('batadal');
    const batadal = await readCsvFile(path.join(root, 'batadal/train.csv'), csvOptionsOf(config.data));
    add('BATADAL train.csv', batadal, config, [4000]);
    const continuous = batadal.sensors.filter((s) => s.startsWith('L_') || s.startsWith('P_'));
    add('BATADAL train.csv, levels and pressures', selectSensors(batadal, continuous), config, [4000]);
  }
  return out;
}

export async function trainingTime(root: string | null): Promise<{ rows: unknown[]; markdown: string[] }> {
  const all = await cases(root);
  const rows: TrainingRow[] = all.map((c) => ({ data: c.data, rows: c.rows, sensors: c.sensors, steps: [], seconds: [], medianSeconds: NaN }));
  // Round-robin over the sizes, so a busy spell on the machine hits every size alike.
  for (let r = 0; r < REPEATS; r++) {
    for (const [i, c] of all.entries()) {
      const { detector, report } = await fitDetector(c.table, c.config);
      rows[i].steps.push(report.train.steps);
      rows[i].seconds.push(report.train.seconds);
      detector.model.dispose();
    }
  }
  for (const row of rows) row.medianSeconds = median(row.seconds);
  const markdown = [
    `\`ganf train\` with the default config (no preset), the first n rows of each file, ${REPEATS} fits per size; training seconds (median, and every fit) and the optimiser steps the data size set (early stopping may end sooner):`, '',
    '| data | rows | sensors | optimiser steps | train s (median) | train s (each fit) |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => `| ${r.data} | ${r.rows} | ${r.sensors} | ${[...new Set(r.steps)].join(', ')} | ${r.medianSeconds.toFixed(0)} | ${r.seconds.map((s) => s.toFixed(0)).join(', ')} |`),
  ];
  return { rows, markdown };
}
