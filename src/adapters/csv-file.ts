// A CSV file on disk -> SeriesTable: the file reading around the pure parser in src/data/csv.ts.
import { readFile } from 'node:fs/promises';
import { parseCsv, type CsvOptions, type Notify } from '../data/csv.ts';
import type { SeriesTable } from '../data/table.ts';

export async function readCsvFile(path: string, options: CsvOptions = {}, notify?: Notify): Promise<SeriesTable> {
  const text = await readFile(path, 'utf8');
  return parseCsv(text, options, path, notify);
}
