import { spawn } from 'node:child_process';
import { renameSync, rmSync, writeFileSync } from 'node:fs';

/** What the watchdog cleans up if its owner dies without doing so: processes and directories. */
export interface Guarded {
  pids: number[];
  dirs: string[];
}

/** What one look of the watchdog needs from its process (the real ones, or a test's). */
export interface WatchdogIo {
  read(path: string): string;
  kill(pid: number): void;
  remove(path: string): void;
}

/**
 * One look of the watchdog at its owner and state file: 'stopped' when the file is gone (the owner
 * cleaned up itself), 'cleaned' when the owner died and what the file lists is killed and removed,
 * 'watching' otherwise. A file that does not parse is one being replaced or torn: watched again
 * at the next look, never read as a clean stop. Self-contained (no import, no outer name): the
 * watchdog process runs it from this source text. No named function inside it either: the app's
 * bundle (esbuild's keepNames) would wrap one in a helper the watchdog process does not have.
 */
export function watchdogLook(
  io: WatchdogIo,
  state: string,
  owner: number,
  ppid: number,
): 'stopped' | 'watching' | 'cleaned' {
  let text: string;
  try {
    text = io.read(state);
  } catch (err) {
    return (err as { code?: string }).code === 'ENOENT' ? 'stopped' : 'watching';
  }
  if (ppid === owner) return 'watching';
  let guarded: { pids: number[]; dirs: string[] };
  try {
    guarded = JSON.parse(text) as { pids: number[]; dirs: string[] };
  } catch {
    return 'watching';
  }
  for (const pid of guarded.pids) {
    try {
      io.kill(pid);
    } catch {
      /* already gone */
    }
  }
  for (const path of [...guarded.dirs, state]) {
    try {
      io.remove(path);
    } catch {
      /* removed, or will be by the next run's sweep */
    }
  }
  return 'cleaned';
}

// Run with `node -e`, so it needs no file of its own wherever the package is. It polls its own
// parent: once re-parented (the owner died, even by SIGKILL), it cleans up. rmSync retries
// ENOTEMPTY: a process just SIGKILLed may still add a file for a moment.
const SCRIPT = `
const fs = require('node:fs');
const [owner, state] = [Number(process.argv[1]), process.argv[2]];
const look = ${watchdogLook.toString()};
const io = {
  read: (path) => fs.readFileSync(path, 'utf8'),
  kill: (pid) => process.kill(pid, 'SIGKILL'),
  remove: (path) => fs.rmSync(path, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 }),
};
setInterval(() => {
  if (look(io, state, owner, process.ppid) !== 'watching') process.exit(0);
}, 250);
`;

/**
 * Makes sure local control planes never outlive the process that started them: 'exit' and signal
 * handlers cover a normal end and Ctrl-C, but a test runner killed with SIGKILL runs no handler.
 * A small detached process watches for that and cleans up within a quarter of a second.
 */
export class Watchdog {
  private readonly pid?: number;

  constructor(private readonly statePath: string) {
    // Written before the watchdog starts: it reads a missing file as "stopped cleanly" and exits,
    // and on a loaded machine its first look could come before the first update().
    this.update({ pids: [], dirs: [] });
    const child = spawn(process.execPath, ['-e', SCRIPT, String(process.pid), statePath], {
      detached: true,
      stdio: 'ignore',
    });
    child.unref();
    this.pid = child.pid;
  }

  /** Records what to clean up; call it whenever a guarded process (re)starts. Written beside and
   * renamed over, so the watchdog never reads it half-written. */
  update(guarded: Guarded): void {
    writeFileSync(`${this.statePath}.next`, JSON.stringify(guarded), { mode: 0o600 });
    renameSync(`${this.statePath}.next`, this.statePath);
  }

  /** The owner cleaned up itself: the watchdog has nothing left to do. */
  dismiss(): void {
    rmSync(this.statePath, { force: true });
    rmSync(`${this.statePath}.next`, { force: true });
    try {
      if (this.pid) process.kill(this.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}
