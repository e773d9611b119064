// Error texts shown to API clients must not reveal the server's file layout: absolute paths are
// replaced by what the client itself named (e.g. the CSV path it asked for), paths under the
// working directory become relative, and any other absolute path becomes "<server path>".
import path from 'node:path';

/** `known`: [absolute path, how to show it] pairs, e.g. the resolved form of a path the client gave. */
export function redactPaths(message: string, known: Array<[string, string]> = []): string {
  let out = message;
  for (const [abs, shown] of [...known].sort((a, b) => b[0].length - a[0].length)) out = out.split(abs).join(shown);
  const cwd = process.cwd() + path.sep;
  out = out.split(cwd).join('');
  // An absolute path not preceded by a word character, a colon or a slash (so URLs stay).
  return out.replace(/(?<![\w:/.])\/[^\s'"`),;]+/g, '<server path>');
}
