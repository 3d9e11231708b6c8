import { flush } from '../../src/testing/poll.js';

export { flush };

/** Whether the promise has settled by the next turn of the event loop. */
export async function isSettled(p: Promise<unknown>): Promise<boolean> {
  let settled = false;
  void p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await flush();
  return settled;
}
