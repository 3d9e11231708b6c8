import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';

/** What the watchdog cleans up if its owner dies without doing so: processes and directories. */
export interface Guarded {
  pids: number[];
  dirs: string[];
}

// Plain JavaScript, run with `node -e`, so it needs no file of its own wherever the package is.
// It polls its own parent: once re-parented (the owner died, even by SIGKILL), it kills what the
// state file lists and removes its directories. A missing state file means a clean stop. rmSync
// retries ENOTEMPTY: a process just SIGKILLed may still add a file for a moment.
const SCRIPT = `
const fs = require('node:fs');
const [owner, state] = [Number(process.argv[1]), process.argv[2]];
setInterval(() => {
  let guarded;
  try { guarded = JSON.parse(fs.readFileSync(state, 'utf8')); } catch { process.exit(0); }
  if (process.ppid === owner) return;
  for (const pid of guarded.pids) { try { process.kill(pid, 'SIGKILL'); } catch {} }
  for (const dir of guarded.dirs) { try { fs.rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 }); } catch {} }
  try { fs.rmSync(state, { force: true }); } catch {}
  process.exit(0);
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

  /** Records what to clean up; call it whenever a guarded process (re)starts. */
  update(guarded: Guarded): void {
    writeFileSync(this.statePath, JSON.stringify(guarded), { mode: 0o600 });
  }

  /** The owner cleaned up itself: the watchdog has nothing left to do. */
  dismiss(): void {
    rmSync(this.statePath, { force: true });
    try {
      if (this.pid) process.kill(this.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}
