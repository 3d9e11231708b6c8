import { kubeConfigFromSecret, KubeconfigError } from '../../../src/remotecluster/kubeconfig-source.js';

const ref = { namespace: 'ns', name: 's', key: 'kubeconfig' };
const secret = (text: string) => ({ data: { kubeconfig: Buffer.from(text).toString('base64') } });

function doc(user: Record<string, unknown>, cluster: Record<string, unknown> = { server: 'https://10.0.0.1:6443' }) {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster }],
    users: [{ name: 'u', user }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'x',
  });
}

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof KubeconfigError) return err.reason;
    throw err;
  }
  return 'accepted';
}

describe('kubeConfigFromSecret', () => {
  it('accepts inline credentials', () => {
    const { kubeConfig } = kubeConfigFromSecret(secret(doc({ token: 'abc' })), ref);
    expect(kubeConfig.getCurrentCluster()?.server).toBe('https://10.0.0.1:6443');
  });

  it('refuses anything that would read local files or run programs, before parsing reads them', () => {
    expect(reason(() => kubeConfigFromSecret(secret(doc({ 'token-file': '/nonexistent/token' })), ref))).toBe(
      'UnsafeKubeconfig',
    );
    expect(
      reason(() => kubeConfigFromSecret(secret(doc({ 'client-key': '/k', 'client-certificate': '/c' })), ref)),
    ).toBe('UnsafeKubeconfig');
    expect(reason(() => kubeConfigFromSecret(secret(doc({ exec: { command: 'sh' } })), ref))).toBe('UnsafeKubeconfig');
    expect(reason(() => kubeConfigFromSecret(secret(doc({ 'auth-provider': { name: 'gcp' } })), ref))).toBe(
      'UnsafeKubeconfig',
    );
    expect(
      reason(() =>
        kubeConfigFromSecret(secret(doc({ token: 'a' }, { server: 'https://x', 'certificate-authority': '/ca' })), ref),
      ),
    ).toBe('UnsafeKubeconfig');
  });

  it('names each problem with its own reason', () => {
    expect(reason(() => kubeConfigFromSecret(undefined, ref))).toBe('SecretNotFound');
    expect(reason(() => kubeConfigFromSecret({ data: {} }, ref))).toBe('KeyNotFound');
    expect(reason(() => kubeConfigFromSecret(secret('a: [b'), ref))).toBe('InvalidKubeconfig');
    expect(reason(() => kubeConfigFromSecret(secret('just text'), ref))).toBe('InvalidKubeconfig');
    const noContext = JSON.parse(doc({ token: 'a' })) as Record<string, unknown>;
    noContext['current-context'] = 'missing';
    expect(reason(() => kubeConfigFromSecret(secret(JSON.stringify(noContext)), ref))).toBe('NoUsableContext');
  });

  it('never puts the kubeconfig content into its messages', () => {
    try {
      kubeConfigFromSecret(secret(doc({ exec: { command: 'sh', args: ['s3cr3t-value'] } })), ref);
    } catch (err) {
      expect((err as Error).message).not.toContain('s3cr3t-value');
    }
    expect.assertions(1);
  });
});
