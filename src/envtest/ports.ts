import { createServer } from 'node:net';

/** Asks the kernel for a free TCP port on 127.0.0.1. Another process may take it before
 * we bind it; callers retry a start that fails with "address already in use". */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('no port assigned'));
      });
    });
  });
}
