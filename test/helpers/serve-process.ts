// `ganf serve` as a user runs it: a child process (the CLI through tsx), its log lines collected.
import { spawn, type ChildProcess } from 'node:child_process';

export function spawnServe(config: string, log: string[]): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', 'serve', '--config', config], {
    env: { ...process.env, GANF_QUIET_BACKEND: '1' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  const collect = (b: Buffer) => log.push(...b.toString().split('\n').filter(Boolean));
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  return child;
}

/** Resolves with the exit code (null after a signal) once the process has exited. */
export const exited = (c: ChildProcess) => new Promise<number | null>((resolve) => {
  if (c.exitCode !== null || c.signalCode !== null) resolve(c.exitCode);
  else c.once('exit', (code) => resolve(code));
});
