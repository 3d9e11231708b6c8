import { watchdogLook, type WatchdogIo } from '../../../src/envtest/watchdog.js';

const OWNER = 4242;
const INIT = 1;
const STATE = '/run/kit/watchdog.json';

/** A state file's content (or its absence) and what the watchdog did about it. */
function io(content: string | undefined): WatchdogIo & { killed: number[]; removed: string[] } {
  const killed: number[] = [];
  const removed: string[] = [];
  return {
    killed,
    removed,
    read: () => {
      if (content === undefined) throw Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
      return content;
    },
    kill: (pid) => void killed.push(pid),
    remove: (path) => void removed.push(path),
  };
}

const guarded = JSON.stringify({ pids: [101, 102], dirs: ['/run/kit/data-1'] });

describe('watchdogLook', () => {
  it('while the owner lives: watches, and touches nothing', () => {
    const fs = io(guarded);
    expect(watchdogLook(fs, STATE, OWNER, OWNER)).toBe('watching');
    expect([fs.killed, fs.removed]).toEqual([[], []]);
  });

  it('the owner died: kills what the state lists, removes its directories and the state file', () => {
    const fs = io(guarded);
    expect(watchdogLook(fs, STATE, OWNER, INIT)).toBe('cleaned');
    expect(fs.killed).toEqual([101, 102]);
    expect(fs.removed).toEqual(['/run/kit/data-1', STATE]);
  });

  it('no state file: the owner stopped cleanly, the watchdog ends', () => {
    expect(watchdogLook(io(undefined), STATE, OWNER, INIT)).toBe('stopped');
    expect(watchdogLook(io(undefined), STATE, OWNER, OWNER)).toBe('stopped');
  });

  it.each([
    ['empty (truncated, not yet written)', ''],
    ['cut short', guarded.slice(0, 12)],
  ])('a state file read %s is looked at again, never taken for a clean stop', (_, torn) => {
    const fs = io(torn);
    expect(watchdogLook(fs, STATE, OWNER, INIT)).toBe('watching');
    expect([fs.killed, fs.removed]).toEqual([[], []]);
  });

  it('an unreadable state file other than a missing one is looked at again', () => {
    const fs = io(guarded);
    fs.read = () => {
      throw Object.assign(new Error('EACCES'), { code: 'EACCES' });
    };
    expect(watchdogLook(fs, STATE, OWNER, INIT)).toBe('watching');
  });
});
