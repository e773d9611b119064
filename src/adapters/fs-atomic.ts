// Small durable-file helpers: whole files replaced atomically (write a temporary sibling, fsync,
// rename, fsync the directory) and append-only logs whose every record is fsynced.
import { closeSync, fsyncSync, openSync, writeSync, readFileSync, existsSync, ftruncateSync } from 'node:fs';
import { open, rename, mkdir } from 'node:fs/promises';
import path from 'node:path';

/** Replaces `file` with `data` so a reader sees either the old or the new content, never a mix. */
export async function writeFileAtomic(file: string, data: string | Buffer): Promise<void> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  await writeFileSynced(tmp, data);
  await rename(tmp, file);
  await fsyncDir(dir);
}

/** Writes `file` and fsyncs it (durable once its directory entry is synced too). */
export async function writeFileSynced(file: string, data: string | Buffer): Promise<void> {
  const fh = await open(file, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * An append-only JSON-lines file. Every append is written and fdatasynced before it returns, so a
 * record that was acknowledged survives a crash; a torn last line (crash mid-write) is cut off
 * when the log is opened again.
 */
export class JsonLinesLog<T> {
  private fd: number;
  readonly file: string;
  readonly sync: boolean;

  private constructor(file: string, fd: number, sync: boolean) {
    this.file = file;
    this.fd = fd;
    this.sync = sync;
  }

  /** Opens (creating) the log and returns it with every complete record in it. */
  static open<T>(file: string, opts: { sync?: boolean; parse?: (raw: unknown, line: number) => T } = {}): { log: JsonLinesLog<T>; records: T[]; truncatedBytes: number } {
    const records: T[] = [];
    let truncatedBytes = 0;
    let completeBytes = 0;
    if (existsSync(file)) {
      // Work on bytes, not on the decoded string: a torn last line can end inside a multi-byte
      // UTF-8 character, which decodes to U+FFFD (3 bytes), so a string-based length would cut
      // into the last acknowledged record.
      const bytes = readFileSync(file);
      completeBytes = bytes.lastIndexOf(0x0a) + 1;
      truncatedBytes = bytes.length - completeBytes;
      const lines = bytes.subarray(0, completeBytes).toString('utf8').split('\n');
      lines.pop(); // the empty string after the final newline
      lines.forEach((line, i) => {
        if (line.trim() === '') return;
        let raw: unknown;
        try {
          raw = JSON.parse(line);
        } catch (e) {
          throw new Error(`${file}: line ${i + 1} is not valid JSON (${(e as Error).message})`);
        }
        records.push(opts.parse ? opts.parse(raw, i + 1) : (raw as T));
      });
    }
    const fd = openSync(file, 'a+');
    if (truncatedBytes > 0) {
      // No newline at the end: the last write did not finish. Drop it (it was never acknowledged).
      ftruncateSync(fd, completeBytes);
      fsyncSync(fd);
    }
    return { log: new JsonLinesLog<T>(file, fd, opts.sync ?? true), records, truncatedBytes };
  }

  append(record: T): void {
    writeSync(this.fd, JSON.stringify(record) + '\n');
    if (this.sync) fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd >= 0) closeSync(this.fd);
    this.fd = -1;
  }
}
