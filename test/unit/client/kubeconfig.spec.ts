import { stringify } from 'yaml';
import {
  KUBECONFIG_REASONS,
  KubeconfigError,
  MAX_KUBECONFIG_BYTES,
  MAX_STRUCTURE,
  checkedSecureContext,
  parseKubeconfig,
  type ClusterConnectionConfig,
  type TransportPolicy,
} from '../../../src/client/kubeconfig.js';
import { LocalCluster } from '../../../src/envtest/local-cluster.js';
import { createClusterPki, type ClusterPki } from '../../../src/envtest/pki.js';

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const SERVER = 'https://10.0.0.1:6443';
const TOKEN = 'tok-0123456789abcdef';

let pki: ClusterPki;
let other: ClusterPki;

beforeAll(async () => {
  [pki, other] = await Promise.all([createClusterPki('kc'), createClusterPki('other')]);
});

type Doc = Record<string, unknown>;

/** A valid kubeconfig (CA + client certificate) with parts replaced. */
function doc(opts: { cluster?: Doc; user?: Doc; context?: Doc; top?: Doc } = {}): Doc {
  return {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      { name: 'c', cluster: opts.cluster ?? { server: SERVER, 'certificate-authority-data': b64(pki.ca.cert) } },
    ],
    users: [
      {
        name: 'u',
        user: opts.user ?? { 'client-certificate-data': b64(pki.admin.cert), 'client-key-data': b64(pki.admin.key) },
      },
    ],
    contexts: [{ name: 'x', context: opts.context ?? { cluster: 'c', user: 'u' } }],
    'current-context': 'x',
    ...opts.top,
  };
}

const parse = (d: Doc | string, policy?: TransportPolicy): ClusterConnectionConfig =>
  parseKubeconfig(typeof d === 'string' ? d : JSON.stringify(d), policy);

/** What a refusal says; fails the test if the parser accepts or throws anything else. */
function refusal(d: Doc | string, policy?: TransportPolicy): { reason: string; field?: string; message: string } {
  try {
    parse(d, policy);
  } catch (err) {
    if (!(err instanceof KubeconfigError)) throw err;
    expect(KUBECONFIG_REASONS).toContain(err.reason);
    if (err.field !== undefined) expect(err.message.startsWith(`${err.field}: `)).toBe(true);
    return { reason: err.reason, field: err.field, message: err.message };
  }
  throw new Error('the kubeconfig was accepted');
}

const ca = (extra: Doc = {}): Doc => ({ server: SERVER, 'certificate-authority-data': b64(pki.ca.cert), ...extra });

describe('parseKubeconfig: valid kubeconfigs', () => {
  it('accepts what LocalCluster.kubeconfig() writes (CA and client certificate inline)', () => {
    // Its instance method, on the fields it reads: no control plane needed.
    const fake = { name: 'remote-1', server: 'https://127.0.0.1:41234', pki };
    const text = LocalCluster.prototype.kubeconfig.call(fake);
    const conn = parseKubeconfig(text);
    expect(conn.server).toEqual({
      origin: 'https://127.0.0.1:41234',
      basePath: '',
      hostname: '127.0.0.1',
      port: 41234,
    });
    expect(conn.auth).toEqual({ type: 'certificate' });
    expect(conn.tls.rejectUnauthorized).toBe(true);
    expect(conn.tls.ca).toBe(pki.ca.cert);
    expect(conn.tls.cert).toBe(pki.admin.cert);
    expect(conn.tls.key).toContain('-----BEGIN PRIVATE KEY-----');
    expect(conn.proxy).toBeUndefined();
    expect(conn.identity).toMatch(/^[0-9a-f]{64}$/);
  });

  it('accepts a token in YAML, as kubectl writes it', () => {
    const text = stringify(doc({ user: { token: TOKEN } }));
    const conn = parseKubeconfig(text);
    expect(conn.auth).toEqual({ type: 'token', token: TOKEN });
    expect(conn.tls.cert).toBeUndefined();
  });

  it('accepts basic auth, and a user without credentials (anonymous)', () => {
    expect(parse(doc({ user: { username: 'admin', password: 'pw' } })).auth).toEqual({
      type: 'basic',
      username: 'admin',
      password: 'pw',
    });
    expect(parse(doc({ user: {} })).auth).toEqual({ type: 'none' });
    const noUserBody = doc();
    noUserBody.users = [{ name: 'u' }];
    expect(parse(noUserBody).auth).toEqual({ type: 'none' });
  });

  it('sends a token and a client certificate together, as client-go does', () => {
    const conn = parse(doc({ user: { token: TOKEN, ...certUser(pki.admin) } }));
    expect(conn.auth.type).toBe('token');
    expect(conn.tls.cert).toBe(pki.admin.cert);
  });

  it('keeps a path prefix, IPv6 hosts, default ports and tls-server-name', () => {
    const withPath = parse(doc({ cluster: ca({ server: 'https://api.example.com/k8s/clusters/c-1/' }) }));
    expect(withPath.server).toEqual({
      origin: 'https://api.example.com',
      basePath: '/k8s/clusters/c-1',
      hostname: 'api.example.com',
      port: 443,
    });
    const v6 = parse(doc({ cluster: ca({ server: 'https://[fd00::1]:6443', 'tls-server-name': 'kubernetes' }) }));
    expect(v6.server).toMatchObject({ origin: 'https://[fd00::1]:6443', hostname: 'fd00::1', port: 6443 });
    expect(v6.tls.servername).toBe('kubernetes');
  });

  it('treats null lists, null and empty fields as not set (kubectl writes `clusters: null`)', () => {
    const conn = parse(
      doc({ user: { token: TOKEN, username: null, 'client-key-data': '' }, top: { preferences: {} } }),
    );
    expect(conn.auth.type).toBe('token');
    expect(refusal({ clusters: null, users: null, contexts: null }).reason).toBe('NoUsableContext');
  });

  it('gives the same identity for the same connection, another one when it changes', () => {
    const a = parse(doc({ user: { token: TOKEN } }));
    const withUnusedUser = doc({ user: { token: TOKEN } });
    (withUnusedUser.users as Doc[]).push({ name: 'unused', user: { token: 'other' } });
    expect(parse(withUnusedUser).identity).toBe(a.identity);
    expect(parse(doc({ user: { token: `${TOKEN}x` } })).identity).not.toBe(a.identity);
    expect(parse(doc({ cluster: ca({ server: 'https://10.0.0.2:6443' }), user: { token: TOKEN } })).identity).not.toBe(
      a.identity,
    );
    expect(a.identity).not.toContain(TOKEN);
  });
});

describe('parseKubeconfig: documents that are not kubeconfigs', () => {
  it.each([
    ['not text', 42 as unknown as string],
    ['empty', ''],
    ['a comment only', '# nothing'],
    ['unparseable YAML', 'clusters: [a'],
    ['a list', '[1, 2]'],
    ['a scalar', 'just text'],
    ['two documents', 'kind: Config\n---\nkind: Config\n'],
    ['a duplicate key', 'kind: Config\nkind: Config\n'],
    ['an unknown tag', 'clusters: !!binary aGk=\n'],
    ['an alias bomb', aliasBomb()],
    ['an unresolved alias', 'clusters: *nowhere\n'],
  ])('refuses %s as InvalidKubeconfig naming the kubeconfig', (_what, text) => {
    const r = refusal(text);
    expect(r).toMatchObject({ reason: 'InvalidKubeconfig', field: undefined });
    expect(r.message).toMatch(/kubeconfig/);
  });

  it('refuses more than 1 MiB before parsing it', () => {
    const big = JSON.stringify(doc({ top: { padding: 'x'.repeat(MAX_KUBECONFIG_BYTES) } }));
    expect(refusal(big).message).toMatch(/larger than 1024 KiB/);
  });

  it('refuses a document with more YAML structure than any kubeconfig before parsing it (parse time)', () => {
    expect(refusal('? '.repeat(MAX_STRUCTURE + 1)).message).toMatch(/more than 10000 lines and YAML indicators/);
    // A realistic large one passes: a CA bundle as base64 wrapped at 76 columns.
    const bundle = b64(pki.ca.cert.repeat(400)).replace(/.{76}/g, '$&\n');
    const text = stringify(doc({ cluster: ca({ 'certificate-authority-data': bundle }) }), { lineWidth: 0 });
    expect(parseKubeconfig(text).tls.ca).toBe(pki.ca.cert.repeat(400));
  });

  it('finds a repeated key among many', () => {
    const keys = Array.from({ length: 3000 }, (_, i) => `k${i}: v`);
    const r = refusal(`${keys.join('\n')}\nk7: again\n`);
    expect(r.message).toMatch(/line 3001, column 1 \(DUPLICATE_KEY\)/);
  });

  it('reports a YAML error by line and column only, never the line itself', () => {
    const text = `users:\n- name: u\n  user: {token: ${TOKEN}\n`;
    const r = refusal(text);
    expect(r.message).toMatch(/line \d+, column \d+/);
    expect(r.message).not.toContain(TOKEN);
  });

  it('refuses another kind or apiVersion', () => {
    expect(refusal(doc({ top: { kind: 'Pod' } }))).toMatchObject({ reason: 'InvalidKubeconfig', field: 'kind' });
    expect(refusal(doc({ top: { apiVersion: 'v2' } }))).toMatchObject({ field: 'apiVersion' });
  });

  it.each([
    ['users', { users: {} }],
    ['contexts', { contexts: {} }],
    ['clusters', { clusters: 'c' }],
    ['clusters[0]', { clusters: [null] }],
    ['users[0]', { users: [[{ name: 'u' }]] }],
    ['clusters[0].name', { clusters: [{ cluster: { server: SERVER } }] }],
    ['users[0].name', { users: [{ name: 7, user: {} }] }],
    ['contexts[0].name', { contexts: [{ name: '', context: {} }] }],
    ['clusters[0].cluster', { clusters: [{ name: 'c', cluster: [SERVER] }] }],
    ['users[0].user', { users: [{ name: 'u', user: 'token' }] }],
    ['contexts[0].context', { contexts: [{ name: 'x', context: 'c' }] }],
    ['current-context', { 'current-context': ['x'] }],
  ])('refuses a wrong shape as InvalidKubeconfig naming %s', (field, top) => {
    expect(refusal(doc({ top }))).toMatchObject({ reason: 'InvalidKubeconfig', field });
  });

  it('refuses duplicate names', () => {
    const d = doc();
    (d.users as Doc[]).push({ name: 'u', user: {} });
    expect(refusal(d)).toMatchObject({ reason: 'InvalidKubeconfig', field: 'users[1].name' });
  });
});

describe('parseKubeconfig: current context', () => {
  it.each([
    ['current-context', { top: { 'current-context': undefined } }],
    ['current-context', { top: { 'current-context': 'missing' } }],
    ['contexts[0].context.cluster', { context: { user: 'u' } }],
    ['contexts[0].context.cluster', { context: { cluster: 'missing', user: 'u' } }],
    ['contexts[0].context.user', { context: { cluster: 'c' } }],
    ['contexts[0].context.user', { context: { cluster: 'c', user: 'missing' } }],
    ['clusters[0].cluster.server', { cluster: {} }],
  ])('refuses as NoUsableContext naming %s', (field, opts) => {
    expect(refusal(doc(opts))).toMatchObject({ reason: 'NoUsableContext', field });
  });

  it('refuses a context reference of the wrong type as InvalidKubeconfig', () => {
    expect(refusal(doc({ context: { cluster: 1, user: 'u' } }))).toMatchObject({
      reason: 'InvalidKubeconfig',
      field: 'contexts[0].context.cluster',
    });
  });
});

describe('parseKubeconfig: local files and programs', () => {
  it.each([
    ['cluster', 'certificate-authority', '/etc/ca.crt'],
    ['user', 'client-certificate', '/home/me/cert'],
    ['user', 'client-key', '/home/me/key'],
    ['user', 'token-file', '/var/run/token'],
    ['user', 'tokenFile', '/var/run/token'],
    ['user', 'exec', { command: 'sh', args: ['-c', 'id'] }],
    ['user', 'auth-provider', { name: 'gcp' }],
  ])('refuses %s field %s as UnsafeKubeconfig, in any entry', (kind, field, value) => {
    const unused =
      kind === 'cluster'
        ? { name: 'unused', cluster: { [field]: value } }
        : { name: 'unused', user: { [field]: value } };
    const inUse = doc(kind === 'cluster' ? { cluster: ca({ [field]: value }) } : { user: { [field]: value } });
    expect(refusal(inUse)).toMatchObject({ reason: 'UnsafeKubeconfig', field: `${kind}s[0].${kind}.${field}` });
    const d = doc();
    (d[`${kind}s`] as Doc[]).push(unused);
    const r = refusal(d);
    expect(r).toMatchObject({ reason: 'UnsafeKubeconfig', field: `${kind}s[1].${kind}.${field}` });
    expect(r.message).not.toMatch(/\/etc|\/home|\/var|command|gcp/);
  });
});

describe('parseKubeconfig: server URL', () => {
  it.each([
    'file:///etc/passwd',
    'unix:///var/run/kube.sock',
    'ftp://10.0.0.1',
    'ws://10.0.0.1',
    'not a url',
    '://',
    'https://',
    'https://10.0.0.1:6443?x=1',
    'https://10.0.0.1:6443/?',
    'https://10.0.0.1:6443/#frag',
    'https://admin:secret@10.0.0.1:6443',
    ' https://10.0.0.1:6443',
    'https://10.0.0.1:99999',
  ])('refuses %j as InvalidKubeconfig naming the server field', (server) => {
    const r = refusal(doc({ cluster: ca({ server }) }));
    expect(r).toMatchObject({ reason: 'InvalidKubeconfig', field: 'clusters[0].cluster.server' });
    expect(r.message).not.toContain('secret');
  });

  it('refuses a server that is not a string', () => {
    expect(refusal(doc({ cluster: ca({ server: { host: 'x' } }) }))).toMatchObject({
      reason: 'InvalidKubeconfig',
      field: 'clusters[0].cluster.server',
    });
  });

  it('refuses plain http:// as InsecureTransport unless the operator allows it', () => {
    const d = doc({ cluster: { server: 'http://10.0.0.1:8080' }, user: { token: TOKEN } });
    expect(refusal(d)).toMatchObject({ reason: 'InsecureTransport', field: 'clusters[0].cluster.server' });
    expect(parse(d, { allowInsecure: true }).server).toMatchObject({ origin: 'http://10.0.0.1:8080', port: 8080 });
  });
});

describe('parseKubeconfig: TLS', () => {
  it('refuses insecure-skip-tls-verify as InsecureTransport unless allowed, then turns verification off', () => {
    const d = doc({ cluster: { server: SERVER, 'insecure-skip-tls-verify': true } });
    expect(refusal(d)).toMatchObject({
      reason: 'InsecureTransport',
      field: 'clusters[0].cluster.insecure-skip-tls-verify',
    });
    expect(parse(d, { allowInsecure: true }).tls.rejectUnauthorized).toBe(false);
    expect(parse(doc({ cluster: ca({ 'insecure-skip-tls-verify': false }) })).tls.rejectUnauthorized).toBe(true);
  });

  it('refuses insecure-skip-tls-verify together with a CA, as client-go does, even when insecure is allowed', () => {
    expect(refusal(doc({ cluster: ca({ 'insecure-skip-tls-verify': true }) }), { allowInsecure: true })).toMatchObject({
      reason: 'InvalidKubeconfig',
      field: 'clusters[0].cluster.insecure-skip-tls-verify',
    });
    expect(refusal(doc({ cluster: ca({ 'insecure-skip-tls-verify': 'true' }) }))).toMatchObject({
      reason: 'InvalidKubeconfig',
    });
  });

  const notPem = b64('this is not PEM');
  const badCert = b64('-----BEGIN CERTIFICATE-----\nAAAAAAAA\n-----END CERTIFICATE-----\n');
  const truncated = (pem: string): string => b64(pem.slice(0, pem.length - 80) + '\n-----END CERTIFICATE-----\n');
  const caField = 'clusters[0].cluster.certificate-authority-data';
  const certField = 'users[0].user.client-certificate-data';
  const keyField = 'users[0].user.client-key-data';

  it.each([
    ['not base64', caField, () => ({ cluster: ca({ 'certificate-authority-data': '***' }) })],
    ['base64 without padding', caField, () => ({ cluster: ca({ 'certificate-authority-data': 'YWJj Z' }) })],
    ['not PEM', caField, () => ({ cluster: ca({ 'certificate-authority-data': notPem }) })],
    ['a certificate that does not parse', caField, () => ({ cluster: ca({ 'certificate-authority-data': badCert }) })],
    [
      'a truncated certificate',
      caField,
      () => ({ cluster: ca({ 'certificate-authority-data': truncated(pki.ca.cert) }) }),
    ],
    [
      'a key instead of a certificate',
      caField,
      () => ({ cluster: ca({ 'certificate-authority-data': b64(pki.ca.key) }) }),
    ],
    ['a number', caField, () => ({ cluster: ca({ 'certificate-authority-data': 5 }) })],
    [
      'a certificate that does not parse',
      certField,
      () => ({ user: { ...certUser(pki.admin), 'client-certificate-data': badCert } }),
    ],
    [
      'a key that does not parse',
      keyField,
      () => ({ user: { ...certUser(pki.admin), 'client-key-data': b64(key('PRIVATE KEY', 'AAAA')) } }),
    ],
    ['not PEM', keyField, () => ({ user: { ...certUser(pki.admin), 'client-key-data': notPem } })],
    [
      'an encrypted key',
      keyField,
      () => ({ user: { ...certUser(pki.admin), 'client-key-data': b64(key('ENCRYPTED PRIVATE KEY', 'AAAA')) } }),
    ],
    [
      'a legacy encrypted key',
      keyField,
      () => ({ user: { ...certUser(pki.admin), 'client-key-data': b64(legacyEncrypted()) } }),
    ],
    [
      'two keys',
      keyField,
      () => ({ user: { ...certUser(pki.admin), 'client-key-data': b64(pki.admin.key + pki.ca.key) } }),
    ],
    [
      'a key of another certificate',
      keyField,
      () => ({ user: { ...certUser(pki.admin), 'client-key-data': b64(other.admin.key) } }),
    ],
    ['a certificate without its key', certField, () => ({ user: { 'client-certificate-data': b64(pki.admin.cert) } })],
    ['a key without its certificate', keyField, () => ({ user: { 'client-key-data': b64(pki.admin.key) } })],
  ])('refuses %s in %s, naming the field and not Node', (_what, field, opts) => {
    const r = refusal(doc(opts()));
    expect(r).toMatchObject({ reason: 'InvalidKubeconfig', field });
    expect(r.message).not.toMatch(/use-system-ca|error:[0-9A-F]{8}|ERR_|routines|Node/);
  });

  it('passes only the certificates it validated, and any number of them', () => {
    const bundle = `# a comment\n${pki.ca.cert}junk between blocks\n${other.ca.cert}`;
    const conn = parse(doc({ cluster: ca({ 'certificate-authority-data': b64(bundle) }) }));
    expect(conn.tls.ca).toBe(pki.ca.cert + other.ca.cert);
  });

  it('reads base64 with line breaks, as Go does', () => {
    const wrapped = b64(pki.ca.cert).replace(/.{76}/g, '$&\n');
    expect(parse(doc({ cluster: ca({ 'certificate-authority-data': wrapped }) })).tls.ca).toBe(pki.ca.cert);
  });

  it('keeps the SecureContext it checked the material with, one per material, for the transport', () => {
    const a = parse(doc());
    const again = parse(doc({ cluster: ca({ server: 'https://10.0.0.2:6443' }) }));
    const otherCredential = parse(doc({ user: certUser(other.admin) }));
    const tokenOnly = parse(doc({ user: { token: TOKEN } }));
    expect(checkedSecureContext(a.tls)).toBeDefined();
    // Same CA and client certificate: checked once, one context (client-go shares its transport).
    expect(checkedSecureContext(again.tls)).toBe(checkedSecureContext(a.tls));
    expect(checkedSecureContext(otherCredential.tls)).not.toBe(checkedSecureContext(a.tls));
    expect(checkedSecureContext(tokenOnly.tls)).not.toBe(checkedSecureContext(a.tls));
    // A tls object the parser did not return has none: the transport builds its own.
    expect(checkedSecureContext({ ...a.tls })).toBeUndefined();
    // No material at all (insecure, allowed): nothing to check, no context.
    const insecure = parse(
      doc({ cluster: { server: SERVER, 'insecure-skip-tls-verify': true }, user: { token: TOKEN } }),
      {
        allowInsecure: true,
      },
    );
    expect(checkedSecureContext(insecure.tls)).toBeUndefined();
  });

  it('does not keep a refusal: material that failed fails again, the same material valid elsewhere passes', () => {
    const mismatched = (): Doc => doc({ user: { ...certUser(pki.admin), 'client-key-data': b64(other.admin.key) } });
    expect(refusal(mismatched()).field).toBe('users[0].user.client-key-data');
    expect(refusal(mismatched()).field).toBe('users[0].user.client-key-data');
    expect(parse(doc()).tls.cert).toBe(pki.admin.cert);
  });

  it('reads KubeConfig.exportConfig() JSON with JSON.parse, to the same connection as YAML gives', () => {
    const d = doc({ user: { ...certUser(pki.admin), token: TOKEN } });
    const fromJson = parseKubeconfig(JSON.stringify(d), {}, { json: true });
    const fromYaml = parseKubeconfig(stringify(d));
    expect(fromJson).toEqual(fromYaml);
    // Text that is not JSON after all is read as YAML, with YAML's checks.
    expect(parseKubeconfig(stringify(d), {}, { json: true })).toEqual(fromYaml);
    expect(() => parseKubeconfig('clusters: []\nclusters: []\n', {}, { json: true })).toThrow(
      /DUPLICATE_KEY|repeated/i,
    );
  });
});

describe('parseKubeconfig: credentials', () => {
  it.each([
    ['users[0].user.token', { token: TOKEN, username: 'a', password: 'b' }],
    ['users[0].user.token', { token: `${TOKEN} x` }],
    ['users[0].user.token', { token: 12345 }],
    ['users[0].user.password', { password: 'b' }],
    ['users[0].user.username', { username: 'a:b', password: 'c' }],
    ['users[0].user.username', { username: ['a'] }],
  ])('refuses as InvalidKubeconfig naming %s', (field, user) => {
    const r = refusal(doc({ user }));
    expect(r).toMatchObject({ reason: 'InvalidKubeconfig', field });
    expect(r.message).not.toContain(TOKEN);
  });

  it.each(['as', 'as-uid', 'as-groups', 'as-user-extra'])(
    'refuses impersonation (%s) rather than ignore it',
    (field) => {
      const value = field === 'as-groups' ? ['system:masters'] : field === 'as-user-extra' ? { a: ['b'] } : 'someone';
      expect(refusal(doc({ user: { token: TOKEN, [field]: value } }))).toMatchObject({
        reason: 'UnsupportedKubeconfig',
        field: `users[0].user.${field}`,
      });
    },
  );
});

describe('parseKubeconfig: proxy-url', () => {
  const field = 'clusters[0].cluster.proxy-url';

  it('honours http:// and https:// proxies', () => {
    expect(parse(doc({ cluster: ca({ 'proxy-url': 'http://proxy.corp:3128' }) })).proxy).toStrictEqual({
      origin: 'http://proxy.corp:3128',
      hostname: 'proxy.corp',
      port: 3128,
    });
    expect(parse(doc({ cluster: ca({ 'proxy-url': 'https://[fd00::3]' }) })).proxy).toMatchObject({
      hostname: 'fd00::3',
      port: 443,
    });
  });

  it('refuses other kinds of proxies as UnsupportedProxy', () => {
    for (const url of ['socks5://proxy:1080', 'socks5h://proxy:1080', 'file:///proxy']) {
      expect(refusal(doc({ cluster: ca({ 'proxy-url': url }) }))).toMatchObject({ reason: 'UnsupportedProxy', field });
    }
  });

  it('refuses a proxy URL that does not parse or has a path, query or fragment', () => {
    for (const url of [
      'http://proxy:99999',
      '//proxy:3128',
      'http://proxy:3128/path',
      'http://proxy:3128/?a',
      'http://proxy#x',
      'http://a b',
    ]) {
      expect(refusal(doc({ cluster: ca({ 'proxy-url': url }) }))).toMatchObject({ reason: 'InvalidKubeconfig', field });
    }
  });

  it('sends user-info as Proxy-Authorization, over http:// only when insecure is allowed', () => {
    const viaHttp = doc({ cluster: ca({ 'proxy-url': 'http://me:p%40ss@proxy:3128' }) });
    const r = refusal(viaHttp);
    expect(r).toMatchObject({ reason: 'InsecureTransport', field });
    expect(r.message).not.toContain('p%40ss');
    const basic = `Basic ${b64('me:p@ss')}`;
    expect(parse(viaHttp, { allowInsecure: true }).proxy).toEqual({
      origin: 'http://proxy:3128',
      hostname: 'proxy',
      port: 3128,
      authorization: basic,
    });
    expect(parse(doc({ cluster: ca({ 'proxy-url': 'https://me:p%40ss@proxy' }) })).proxy?.authorization).toBe(basic);
    expect(refusal(doc({ cluster: ca({ 'proxy-url': 'https://me:%E0%A4%A@proxy' }) }))).toMatchObject({
      reason: 'InvalidKubeconfig',
      field,
    });
  });
});

function certUser(pair: { cert: string; key: string }): Doc {
  return { 'client-certificate-data': b64(pair.cert), 'client-key-data': b64(pair.key) };
}

function key(label: string, body: string): string {
  return `-----BEGIN ${label}-----\n${body}\n-----END ${label}-----\n`;
}

function legacyEncrypted(): string {
  return `-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00000000000000000000000000000000\n\nAAAA\n-----END RSA PRIVATE KEY-----\n`;
}

/** The "billion laughs" of YAML: each level aliases the previous one ten times. */
function aliasBomb(): string {
  const lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
  for (let i = 1; i < 8; i++) {
    const prev = String.fromCharCode(96 + i);
    const cur = String.fromCharCode(97 + i);
    lines.push(`${cur}: &${cur} [${new Array(10).fill(`*${prev}`).join(',')}]`);
  }
  return lines.join('\n') + '\n';
}
