// Small durable-file helpers: whole files replaced atomically (write a temporary sibling, fsync,
// rename, fsync the directory) and append-only logs whose every record is fsynced.
import { closeSync, fsyncSync, openSync, writeSync, readFileSync, existsSync, ftruncateSync, statSync } from 'node:fs';
import { open, rename, mkdir } from 'node:fs/promises';
import path from 'node:path';

/** Replaces `file` with `data` so a reader sees either the old or the new content, never a mix. */
export async function writeFileAtomic(file: string, data: string | Buffer): Promise<void> {
  const dir = path.dirname(file);
  await mkdir(dir, { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`;
  const fh = await open(tmp, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await rename(tmp, file);
  await fsyncDir(dir);
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
    if (existsSync(file)) {
      const text = readFileSync(file, 'utf8');
      let offset = 0;
      let lineNo = 0;
      while (offset < text.length) {
        const nl = text.indexOf('\n', offset);
        const end = nl === -1 ? text.length : nl;
        const line = text.slice(offset, end);
        lineNo++;
        if (nl === -1) {
          // No newline: the last write did not finish. Drop it (it was never acknowledged).
          truncatedBytes = Buffer.byteLength(line);
          break;
        }
        if (line.trim() !== '') {
          let raw: unknown;
          try {
            raw = JSON.parse(line);
          } catch (e) {
            throw new Error(`${file}: line ${lineNo} is not valid JSON (${(e as Error).message})`);
          }
          records.push(opts.parse ? opts.parse(raw, lineNo) : (raw as T));
        }
        offset = end + 1;
      }
    }
    const fd = openSync(file, 'a+');
    if (truncatedBytes > 0) {
      ftruncateSync(fd, statSync(file).size - truncatedBytes);
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
