import { kubeconfigFromSecret, SecretSourceError } from '../../../src/remotecluster/kubeconfig-source.js';

// What the kubeconfig itself gets wrong is the parser's (test/unit/client/kubeconfig*.spec.ts).
const ref = { namespace: 'ns', name: 's', key: 'kubeconfig' };
const secret = (data: Record<string, unknown>) => ({ data });

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof SecretSourceError) return err.reason;
    throw err;
  }
  return 'accepted';
}

describe('kubeconfigFromSecret', () => {
  it('gives the decoded text of the key', () => {
    const text = 'apiVersion: v1\nkind: Config\n';
    expect(kubeconfigFromSecret(secret({ kubeconfig: Buffer.from(text).toString('base64') }), ref)).toBe(text);
  });

  it('names each problem with its own reason and the place, never content', () => {
    expect(reason(() => kubeconfigFromSecret(undefined, ref))).toBe('SecretNotFound');
    expect(reason(() => kubeconfigFromSecret(secret({}), ref))).toBe('KeyNotFound');
    expect(reason(() => kubeconfigFromSecret({ data: 'not a map' }, ref))).toBe('KeyNotFound');
    expect(reason(() => kubeconfigFromSecret(secret({ kubeconfig: 42 }), ref))).toBe('KeyNotFound');
    expect(() => kubeconfigFromSecret(secret({ other: 'czNjcjN0' }), ref)).toThrow(
      'Secret ns/s has no key "kubeconfig" (keys: other)',
    );
  });
});
