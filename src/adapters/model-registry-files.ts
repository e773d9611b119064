// The model registry's layout on disk, shared by its writer (the API's ModelRegistry) and its
// readers (`ganf serve` following the active version):
//
//   <root>/versions/<version>/   a model directory as saveDetector writes it (never changed after)
//   <root>/meta/<version>.json   where it came from (import, refit job) and its shadow evaluation
//   <root>/active                {"version", "history", "changedAt", "reason", "by"}
//
// The pointer is replaced atomically by the writer, so a reader sees the old or the new one.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';

export const ActivePointerSchema = z.object({
  version: z.string(),
  history: z.array(z.string()),
  changedAt: z.string(),
  reason: z.string(),
  by: z.string(),
});
export type ActivePointer = z.infer<typeof ActivePointerSchema>;

export const activePointerFile = (root: string): string => path.join(root, 'active');
export const versionsDir = (root: string): string => path.join(root, 'versions');

/** The pointer, or null when no version was ever activated. A malformed pointer is an error naming the file. */
export async function readActivePointer(root: string): Promise<ActivePointer | null> {
  const file = activePointerFile(root);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
  const parsed = ActivePointerSchema.safeParse(JSON.parse(text));
  if (!parsed.success) throw new Error(`${file}: not an active-version pointer (${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')})`);
  return parsed.data;
}
