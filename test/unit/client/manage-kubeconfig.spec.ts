import { jest } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trustedConnection } from '../../../src/client/connection.js';
import { ManageKubeconfig } from '../../../src/client/manage-kubeconfig.js';
import { advance, useFakeClock } from '../../support/clock.js';

describe('ManageKubeconfig with a token-file', () => {
  let dir: string;

  beforeEach(() => {
    useFakeClock();
    dir = mkdtempSync(join(tmpdir(), 'clusterregistry-manage-'));
  });

  afterEach(() => {
    jest.useRealTimers();
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the file again as it rotates, and trims it', async () => {
    // As `kubectl create token > token` writes it: with a newline.
    writeFileSync(join(dir, 'token'), 'first-token\n');
    const path = join(dir, 'kubeconfig');
    writeFileSync(
      path,
      `apiVersion: v1
kind: Config
current-context: c
contexts: [{name: c, context: {cluster: c, user: u}}, {name: other, context: {cluster: c, user: v}}]
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1", insecure-skip-tls-verify: true}}]
users: [{name: v, user: {token: not-this-one}}, {name: u, user: {token-file: ${join(dir, 'token')}}}]
`,
    );
    const connection = trustedConnection(ManageKubeconfig.fromFile(path));
    try {
      expect(await connection.authHeaders()).toEqual({ authorization: 'Bearer first-token' });

      writeFileSync(join(dir, 'token'), 'second-token\n');
      await advance(30_000);
      expect(await connection.authHeaders()).toEqual({ authorization: 'Bearer first-token' });
      await advance(30_001);
      expect(await connection.authHeaders()).toEqual({ authorization: 'Bearer second-token' });
    } finally {
      await connection.dispatcher.destroy();
    }
  });
});
