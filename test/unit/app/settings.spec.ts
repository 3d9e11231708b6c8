import { loadSettings } from '../../../src/app/settings.js';
import { failureReason, KubeApiError } from '../../../src/client/errors.js';

describe('loadSettings', () => {
  it('has defaults for everything', () => {
    // Without POD_NAME or HOSTNAME: "local" and the process id.
    const identity: unknown = expect.stringMatching(/^local-\d+$/);
    // toStrictEqual: an unexpected field, even an undefined one, fails too.
    expect(loadSettings({})).toStrictEqual({
      probePort: 8081,
      metricsPort: 8080,
      bindAddress: '0.0.0.0',
      logLevel: 'log',
      podNamespace: 'clusterregistry-system',
      secretNamespace: 'clusterregistry-system',
      leaderElection: true,
      leaseName: 'clusterregistry-leader',
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
      identity,
      shards: 0,
      maxReplicas: 10,
      shardLeasePrefix: 'clusterregistry',
      shutdownTimeoutMs: 20_000,
      clusterStopTimeoutMs: 10_000,
      maxConcurrentReconciles: 64,
      maxConcurrentSpawns: 8,
      probeIntervalMs: 15_000,
      remoteClusterSelector: undefined,
      exampleReconcilers: true,
      allowInsecureKubeconfigTls: false,
      remoteAllowedNetworks: [],
      remoteDeniedNetworks: [],
      maxResponseBytes: 32 * 1024 * 1024,
      maxWatchEventBytes: 4 * 1024 * 1024,
      remoteManifests: true,
      remoteManifestDeleteTimeoutMs: 60_000,
      remoteManifestConcurrency: 8,
    });
    expect(loadSettings({}).identity).toBe(`local-${process.pid}`);
  });

  it('reads the environment and rejects nonsense with the variable name', () => {
    expect(loadSettings({ PROBE_PORT: '9000', LEADER_ELECTION: 'false', SECRET_NAMESPACE: 'x' })).toMatchObject({
      probePort: 9000,
      leaderElection: false,
      secretNamespace: 'x',
    });
    expect(
      loadSettings({ REMOTE_DENIED_NETWORKS: ' 10.0.0.0/8, fd00::/8 ,', ALLOW_INSECURE_KUBECONFIG_TLS: 'true' }),
    ).toMatchObject({ remoteDeniedNetworks: ['10.0.0.0/8', 'fd00::/8'], allowInsecureKubeconfigTls: true });
    expect(
      loadSettings({
        REMOTE_MANIFESTS: 'no',
        REMOTEMANIFEST_DELETE_TIMEOUT_MS: '3000',
        REMOTEMANIFEST_CONCURRENCY: '0',
        MAX_CONCURRENT_SPAWNS: '0',
      }),
    ).toMatchObject({
      remoteManifests: false,
      remoteManifestDeleteTimeoutMs: 3_000,
      remoteManifestConcurrency: 1,
      maxConcurrentSpawns: 1,
    });
    expect(() => loadSettings({ PROBE_PORT: 'eighty' })).toThrow(/PROBE_PORT/);
    expect(() => loadSettings({ LEADER_ELECTION: 'maybe' })).toThrow(/LEADER_ELECTION/);
    expect(() => loadSettings({ RENEW_DEADLINE_MS: '20000', LEASE_DURATION_MS: '15000' })).toThrow(/RENEW_DEADLINE_MS/);
    expect(loadSettings({ SHARDS: '32', MAX_REPLICAS: '5' })).toMatchObject({ shards: 32, maxReplicas: 5 });
    expect(() => loadSettings({ SHARDS: '2.5' })).toThrow(/SHARDS/);
    // Sharded RemoteManifests are summed up by the leader: leader election must be on.
    expect(() => loadSettings({ SHARDS: '4', LEADER_ELECTION: 'false' })).toThrow(/LEADER_ELECTION/);
    expect(loadSettings({ SHARDS: '4', LEADER_ELECTION: 'false', REMOTE_MANIFESTS: 'false' })).toMatchObject({
      shards: 4,
      leaderElection: false,
    });
  });
});

describe('failureReason', () => {
  it('sorts failures into reasons an operator can act on', () => {
    expect(failureReason(new KubeApiError(403, 'Forbidden', 'x'))).toBe('Forbidden');
    expect(failureReason(new KubeApiError(401, 'Unauthorized', 'x'))).toBe('Unauthorized');
    expect(failureReason(new KubeApiError(503, '', 'x'))).toBe('ServerError');
    expect(failureReason(Object.assign(new Error('x'), { cause: { code: 'ECONNREFUSED' } }))).toBe('Unreachable');
    expect(failureReason(Object.assign(new Error('x'), { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' }))).toBe(
      'ServerCertificateUntrusted',
    );
    expect(failureReason(Object.assign(new Error('x'), { code: 'ERR_SSL_SSLV3_ALERT_BAD_CERTIFICATE' }))).toBe(
      'ClientCertificateRejected',
    );
  });
});
