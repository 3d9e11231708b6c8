// One measurement process of either side: collects its RESULT lines, tells when it printed READY,
// sends it "stop", and on failure throws with the end of its stderr (shown live with --verbose).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { parseResult, type Result, type Side } from './protocol.js';

export interface Command {
  side: Side;
  /** For messages: "ts spawnsync #2". */
  label: string;
  file: string;
  args: string[];
  /** Added to this process's environment. */
  env?: Record<string, string>;
}

export interface Child {
  /** Resolves when the process prints READY; rejects if it exits first. */
  ready: Promise<void>;
  /** Resolves with its RESULT lines once it exited with 0; rejects otherwise. */
  done: Promise<Result[]>;
  stop(): void;
}

const STDERR_TAIL = 40;

export function start(cmd: Command, options: { verbose: boolean; timeoutMs: number }): Child {
  const proc: ChildProcessWithoutNullStreams = spawn(cmd.file, cmd.args, {
    env: { ...process.env, ...cmd.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  // A process that died before "stop" must not take the bench down with EPIPE.
  proc.stdin.on('error', () => undefined);
  const results: Result[] = [];
  const stderr: string[] = [];
  let markReady!: () => void;
  let failReady!: (err: Error) => void;
  const ready = new Promise<void>((resolve, reject) => ((markReady = resolve), (failReady = reject)));
  ready.catch(() => undefined); // not every mode prints READY; done reports the failure

  createInterface({ input: proc.stdout }).on('line', (line) => {
    const result = parseResult(line);
    if (result) results.push(result);
    else if (line === 'READY') markReady();
    else if (options.verbose) console.log(`    [${cmd.label}] ${line}`);
  });
  createInterface({ input: proc.stderr }).on('line', (line) => {
    stderr.push(line);
    if (stderr.length > STDERR_TAIL) stderr.shift();
    if (options.verbose) console.log(`    [${cmd.label}] ${line}`);
  });
  // Our own child: killed by its pid when it overstays.
  const timer = setTimeout(() => proc.kill('SIGKILL'), options.timeoutMs);
  const done = new Promise<Result[]>((resolve, reject) => {
    proc.on('error', reject);
    proc.on('close', (code, signal) => {
      clearTimeout(timer);
      const err = new Error(
        `${cmd.label} ${signal ? `killed by ${signal}` : `exited with ${code}`}:\n  ${stderr.join('\n  ')}`,
      );
      failReady(err);
      if (code === 0) resolve(results);
      else reject(err);
    });
  });
  return {
    ready,
    done,
    stop: () => {
      if (proc.stdin.writableEnded) return;
      proc.stdin.write('stop\n');
      proc.stdin.end();
    },
  };
}

/** Runs a process to its end and returns its RESULT lines of `mode` (at least one), or of any
 * mode when `mode` is undefined. */
export async function runToEnd(
  cmd: Command,
  mode: string | undefined,
  options: { verbose: boolean; timeoutMs: number },
): Promise<Result[]> {
  const results = await start(cmd, options).done;
  if (mode === undefined) return results;
  const mine = results.filter((r) => r.mode === mode);
  if (mine.length === 0) throw new Error(`${cmd.label}: no RESULT line for ${mode}`);
  return mine;
}
