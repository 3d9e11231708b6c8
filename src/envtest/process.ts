import { spawn, type ChildProcess } from 'node:child_process';
import { appendFileSync, closeSync, openSync, readFileSync } from 'node:fs';

export interface Exit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A child process whose output goes to a log file, which can be stopped and whose
 * log tail explains a failure. */
export class ManagedProcess {
  private child?: ChildProcess;
  private exitPromise?: Promise<Exit>;
  private exitValue?: Exit;

  constructor(
    readonly name: string,
    private readonly binary: string,
    private readonly args: readonly string[],
    readonly logPath: string,
    /** A process group of its own, so a terminal's Ctrl-C reaches only the owner, which stops
     * this process when it is done with it. Only for processes a Watchdog guards: nothing else
     * would stop it if the owner were killed with its group. */
    private readonly ownGroup = false,
  ) {}

  start(): void {
    const fd = openSync(this.logPath, 'a');
    try {
      this.exitValue = undefined;
      const child = spawn(this.binary, this.args, { stdio: ['ignore', fd, fd], detached: this.ownGroup });
      this.child = child;
      this.exitPromise = new Promise<Exit>((resolve) => {
        child.once('error', (err) => {
          this.exitValue = { code: -1, signal: null };
          this.appendNote(`spawn failed: ${err.message}`);
          resolve(this.exitValue);
        });
        child.once('exit', (code, signal) => {
          this.exitValue = { code, signal };
          resolve(this.exitValue);
        });
      });
    } finally {
      closeSync(fd);
    }
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Undefined while running. */
  get exit(): Exit | undefined {
    return this.exitValue;
  }

  get exited(): Promise<Exit> {
    return this.exitPromise ?? Promise.resolve({ code: null, signal: null });
  }

  /** SIGTERM, then SIGKILL after the grace period. Resolves once the process is gone. */
  async stop(graceMs = 10_000): Promise<void> {
    const child = this.child;
    if (!child || this.exitValue) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
  }

  /** Synchronous last resort for process 'exit' handlers. */
  killNow(): void {
    if (this.child && !this.exitValue) this.child.kill('SIGKILL');
  }

  tail(lines = 30): string {
    try {
      return readFileSync(this.logPath, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  private appendNote(note: string): void {
    try {
      appendFileSync(this.logPath, `[${this.name}] ${note}\n`);
    } catch {
      /* the log is only for diagnosis */
    }
  }
}
