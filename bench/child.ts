// Child processes of the benchmarks (`ganf api`, `ganf serve`, `ganf replay`): started with tsx,
// their output collected, resolved once a line matches `ready`; stopped with SIGTERM (SIGKILL
// after 20 s).
import { spawn, type ChildProcess } from 'node:child_process';

const CLI = ['--import', 'tsx', 'src/cli/main.ts'];

export function startChild(children: ChildProcess[], name: string, argv: string[], env: Record<string, string>, ready?: RegExp): Promise<{ child: ChildProcess; match: RegExpMatchArray | null; log: string[] }> {
  const child = spawn(process.execPath, [...CLI, ...argv], { env: { ...process.env, GANF_QUIET_BACKEND: '1', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const log: string[] = [];
  return new Promise((resolve, reject) => {
    let done = !ready;
    const onData = (b: Buffer) => {
      for (const line of b.toString().split('\n').filter(Boolean)) {
        log.push(line);
        if (log.length > 200) log.shift();
        const m = ready && line.match(ready);
        if (m && !done) {
          done = true;
          resolve({ child, match: m, log });
        }
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => {
      if (!done) reject(new Error(`${name} exited with ${code}:\n${log.slice(-20).join('\n')}`));
    });
    if (!ready) resolve({ child, match: null, log });
  });
}

export async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  await new Promise<void>((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
