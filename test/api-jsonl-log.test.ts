// The append-only JSON-lines log's crash recovery: a torn last line is cut at the exact byte where
// the last complete record ends, also when the tear falls inside a multi-byte UTF-8 character.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { JsonLinesLog } from '../src/adapters/fs-atomic.ts';
import { JsonlAlertStore } from '../src/api/alerts/store.ts';
import { ingestAlert } from '../src/api/alerts/ingest.ts';
import { sampleAlert } from './helpers/api.ts';

test('a torn last line ending inside a 2-, 3- or 4-byte character is cut at the last complete record', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'ganf-jsonl-'));
  try {
    const records = [{ n: 1, s: 'Zürich' }, { n: 2, s: '東京 ✓' }, { n: 3, s: 'sensor 🌡' }];
    const good = Buffer.from(records.map((r) => `${JSON.stringify(r)}\n`).join(''), 'utf8');
    for (const ch of ['ü', '✓', '🌡']) {
      const bytes = Buffer.from(`{"n":4,"s":"${ch}"}\n`, 'utf8');
      const at = bytes.indexOf(Buffer.from(ch, 'utf8'));
      // Every tear point inside the character (1 .. len-1 bytes of it written).
      for (let cut = 1; cut < Buffer.byteLength(ch); cut++) {
        const file = path.join(dir, `log-${Buffer.byteLength(ch)}-${cut}.jsonl`);
        await writeFile(file, Buffer.concat([good, bytes.subarray(0, at + cut)]));
        const { log, records: read, truncatedBytes } = JsonLinesLog.open<{ n: number; s: string }>(file);
        assert.deepEqual(read, records);
        assert.equal(truncatedBytes, at + cut);
        log.append({ n: 5, s: 'after' });
        log.close();
        const after = await readFile(file);
        assert.deepEqual(after.subarray(0, good.length), good, 'the acknowledged records are intact byte for byte');
        assert.equal(after.subarray(good.length).toString('utf8'), '{"n":5,"s":"after"}\n');
        // And the next open accepts the file as it is.
        const again = JsonLinesLog.open<{ n: number }>(file);
        assert.deepEqual(again.records.map((r) => r.n), [1, 2, 3, 5]);
        assert.equal(again.truncatedBytes, 0);
        again.log.close();
      }
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('the alert store restarts after a crash mid-append of a record with non-ASCII text', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'ganf-alertlog-'));
  try {
    const store = new JsonlAlertStore(dir);
    ingestAlert(store, sampleAlert(1, { site: 'Straße-3' }));
    ingestAlert(store, sampleAlert(2, { site: '站点-北' }));
    const seq = store.lastSeq();
    store.close();
    const file = path.join(dir, 'alerts.jsonl');
    const full = await readFile(file);
    // A third record torn one byte into "北" (3 bytes in UTF-8).
    const torn = Buffer.from(`{"seq":${seq + 1},"type":"alert","site":"北`, 'utf8');
    await writeFile(file, Buffer.concat([full, torn.subarray(0, torn.length - 2)]));
    const reopened = new JsonlAlertStore(dir);
    assert.equal(reopened.lastSeq(), seq);
    assert.deepEqual(reopened.changesSince(0).map((c) => c.alert.labels.site), ['Straße-3', '站点-北']);
    reopened.close();
    assert.deepEqual(await readFile(file), full);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
