import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { stringify } from 'yaml';
import {
  KUBECONFIG_REASONS,
  KubeconfigError,
  MAX_KUBECONFIG_BYTES,
  parseKubeconfig,
  type TransportPolicy,
} from '../../../src/client/kubeconfig.js';
import { createClusterPki, type ClusterPki } from '../../../src/envtest/pki.js';

// Whatever a Secret holds, parseKubeconfig returns a connection or throws a KubeconfigError with
// an allowed reason, naming a field or the document, quoting no value and no Node hint.

const b64 = (s: string): string => Buffer.from(s).toString('base64');
const TOKEN = `tok-${randomBytes(12).toString('hex')}`;
const PASSWORD = `pw-${randomBytes(12).toString('hex')}`;
const PROXY_PASSWORD = `proxypw${randomBytes(8).toString('hex')}`;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Doc = { [key: string]: Json };

let pki: ClusterPki;
let bases: Doc[];
let secrets: string[];

beforeAll(async () => {
  pki = await createClusterPki('property');
  const context = [{ name: 'ctx', context: { cluster: 'the-cluster', user: 'the-user' } }];
  const base = (cluster: Doc, user: Doc): Doc => ({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'the-cluster', cluster }],
    users: [{ name: 'the-user', user }],
    contexts: context,
    'current-context': 'ctx',
  });
  const ca = b64(pki.ca.cert);
  bases = [
    // Cheap ones (no TLS material to validate) most of the time; the full one too.
    base({ server: 'https://10.0.0.1:6443' }, { token: TOKEN }),
    base({ server: 'https://api.example.com/prefix' }, { username: 'admin', password: PASSWORD }),
    base(
      { server: 'https://[fd00::1]:6443', 'proxy-url': `https://me:${PROXY_PASSWORD}@proxy:3128` },
      { token: TOKEN },
    ),
    base({ server: 'http://10.0.0.1:8080', 'insecure-skip-tls-verify': true }, { token: TOKEN }),
    base(
      { server: 'https://10.0.0.1:6443', 'certificate-authority-data': ca },
      { 'client-certificate-data': b64(pki.admin.cert), 'client-key-data': b64(pki.admin.key), token: TOKEN },
    ),
  ];
  // Any of these in a message is a leak: credentials, and parts of the key as base64 and as PEM.
  const keyBody = pki.admin.key.split('\n')[1]!;
  secrets = [TOKEN, PASSWORD, PROXY_PASSWORD, b64(pki.admin.key).slice(0, 40), keyBody.slice(0, 40)];
});

// ---------------------------------------------------------------------------------------------
// Generators

const FIELDS = [
  'apiVersion',
  'kind',
  'clusters',
  'users',
  'contexts',
  'current-context',
  'name',
  'cluster',
  'user',
  'context',
  'server',
  'certificate-authority-data',
  'certificate-authority',
  'insecure-skip-tls-verify',
  'tls-server-name',
  'proxy-url',
  'client-certificate-data',
  'client-key-data',
  'client-certificate',
  'client-key',
  'token',
  'token-file',
  'tokenFile',
  'username',
  'password',
  'exec',
  'auth-provider',
  'as',
  'as-groups',
  '__proto__',
];

const url = fc.oneof(
  fc.webUrl({ withQueryParameters: true, withFragments: true }),
  fc
    .tuple(
      fc.constantFrom('https', 'http', 'file', 'unix', 'ftp', 'socks5', 'ws', 'HTTPS', ''),
      fc.constantFrom('://', ':', ':///', '//'),
      fc.oneof(
        fc.domain(),
        fc.ipV4(),
        fc.ipV6().map((a) => `[${a}]`),
        fc.string({ maxLength: 12 }),
      ),
      fc.constantFrom('', ':6443', ':0', ':99999', ':-1', ':x'),
      fc.constantFrom('', '/', '/p/', '?q=1', '#f', '/a?b#c', ' ', '%zz'),
      fc.constantFrom('', 'u@', 'u:p@', `me:${PROXY_PASSWORD}@`, '%E0%A4%A@'),
    )
    .map(([scheme, sep, host, port, rest, userinfo]) => `${scheme}${sep}${userinfo}${host}${port}${rest}`),
);

const pemish = fc
  .tuple(
    fc.constantFrom('CERTIFICATE', 'PRIVATE KEY', 'RSA PRIVATE KEY', 'EC PRIVATE KEY', 'ENCRYPTED PRIVATE KEY', 'X'),
    fc.base64String({ maxLength: 200 }),
    fc.boolean(),
  )
  .map(([label, body, closed]) => `-----BEGIN ${label}-----\n${body}\n${closed ? `-----END ${label}-----\n` : ''}`);

/** Values a field may be replaced with: wrong types, near-misses and junk. */
const value: fc.Arbitrary<Json> = fc.oneof(
  { arbitrary: fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>, weight: 4 },
  { arbitrary: fc.string({ unit: 'grapheme', maxLength: 40 }), weight: 3 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 2 },
  { arbitrary: url, weight: 4 },
  { arbitrary: fc.base64String({ maxLength: 120 }), weight: 2 },
  { arbitrary: pemish.map(b64), weight: 2 },
  { arbitrary: pemish, weight: 1 },
  { arbitrary: fc.constantFrom(TOKEN, PASSWORD, `${TOKEN} `, b64(`${PASSWORD}\n`)), weight: 2 },
  { arbitrary: fc.constantFrom(null, true, false, 0, -1, 1e308, '', [], {}, [null], { '': null }), weight: 3 },
  // Huge strings (a few, as each costs milliseconds to serialize), one over the size limit.
  {
    arbitrary: fc
      .constantFrom(...new Array<number>(9).fill(20_000), MAX_KUBECONFIG_BYTES + 1)
      .map((n) => 'A'.repeat(n)),
    weight: 1,
  },
);

type Mutation =
  | { op: 'delete' | 'null' | 'swap' | 'duplicate'; path: number[] }
  | { op: 'set'; path: number[]; value: Json }
  | { op: 'add'; path: number[]; key: string; value: Json };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ op: fc.constantFrom('delete', 'null', 'swap', 'duplicate'), path: fc.array(fc.nat(), { maxLength: 5 }) }),
  fc.record({ op: fc.constant('set'), path: fc.array(fc.nat(), { maxLength: 5 }), value }),
  fc.record({
    op: fc.constant('add'),
    path: fc.array(fc.nat(), { maxLength: 4 }),
    key: fc.oneof(fc.constantFrom(...FIELDS), fc.string({ maxLength: 8 })),
    value,
  }),
);

function isObject(v: Json): v is { [key: string]: Json } {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Follows `path` (child index modulo the number of children) and changes what it ends at. */
function mutate(doc: Doc, m: Mutation): Json {
  const root: Json = structuredClone(doc);
  let parent: Json = root;
  let key: string | number | undefined;
  for (const step of m.path) {
    const node: Json = key === undefined ? parent : (parent as Record<string | number, Json>)[key]!;
    const keys: (string | number)[] = Array.isArray(node)
      ? node.map((_, i) => i)
      : isObject(node)
        ? Object.keys(node)
        : [];
    if (keys.length === 0) break;
    if (key !== undefined) parent = node;
    key = keys[step % keys.length];
  }
  if (key === undefined) return m.op === 'set' ? m.value : m.op === 'null' ? null : root;
  const holder = parent as Record<string | number, Json>;
  const target = holder[key]!;
  switch (m.op) {
    case 'delete':
      if (Array.isArray(holder)) holder.splice(key as number, 1);
      else delete holder[key];
      break;
    case 'null':
      holder[key] = null;
      break;
    case 'set':
      holder[key] = m.value;
      break;
    case 'swap': // list <-> mapping
      holder[key] = Array.isArray(target)
        ? Object.fromEntries(target.map((v, i) => [String(i), v]))
        : isObject(target)
          ? Object.values(target)
          : [target];
      break;
    case 'duplicate':
      if (Array.isArray(target) && target.length > 0) target.push(structuredClone(target[0]!));
      else holder[key] = [target, target];
      break;
    case 'add':
      if (isObject(target)) target[m.key] = m.value;
      else holder[key] = { [m.key]: m.value };
      break;
  }
  return root;
}

/** Kubeconfig-shaped documents built from the field vocabulary, so deep paths get random values. */
const shaped: fc.Arbitrary<Json> = fc
  .tuple(
    fc.array(fc.dictionary(fc.constantFrom(...FIELDS), value, { maxKeys: 4 }), { maxLength: 3 }),
    fc.array(fc.dictionary(fc.constantFrom(...FIELDS), value, { maxKeys: 4 }), { maxLength: 3 }),
    fc.array(fc.dictionary(fc.constantFrom(...FIELDS), value, { maxKeys: 3 }), { maxLength: 2 }),
    fc.option(fc.oneof(fc.constantFrom('a', 'b', 'ctx'), value)),
  )
  .map(([clusters, users, contexts, current]) => ({
    clusters: clusters.map((cluster, i) => ({ name: ['a', 'b', 'c'][i]!, cluster })),
    users: users.map((user, i) => ({ name: ['a', 'b', 'c'][i]!, user })),
    contexts: contexts.map((context, i) => ({
      name: ['ctx', 'b'][i]!,
      context: { cluster: 'a', user: 'a', ...context },
    })),
    'current-context': current,
  }));

/** Edits of the text itself: truncation, junk, YAML constructs. */
const textEdit = fc.record({
  at: fc.double({ min: 0, max: 1, noNaN: true }),
  kind: fc.constantFrom('truncate', 'insert', 'replace'),
  text: fc.oneof(
    fc.string({ unit: 'binary', maxLength: 6 }),
    fc.constantFrom(
      '&a ',
      '*a',
      '<<: *a\n',
      '!!binary ',
      '!tag ',
      '\t',
      '\n---\n',
      '%YAML 1.1\n---\n',
      '? ',
      '{',
      ']',
      '"',
      "'",
      '\\u0000',
      '#',
    ),
  ),
});

function editText(text: string, e: { at: number; kind: string; text: string }): string {
  const i = Math.floor(e.at * text.length);
  if (e.kind === 'truncate') return text.slice(0, i);
  return text.slice(0, i) + e.text + text.slice(e.kind === 'replace' ? i + e.text.length : i);
}

/** Alias constructs: shared nodes, forward references, merges, and alias bombs of random size. */
const aliases = fc.oneof(
  fc.constantFrom(
    'clusters: &c [{name: a, cluster: {server: "https://1.2.3.4"}}]\nusers: *c\ncontexts: [{name: x, context: {cluster: a, user: a}}]\ncurrent-context: x\n',
    'clusters: *later\nlater: &later []\n',
    'base: &b {server: "https://1.2.3.4"}\nclusters: [{name: a, cluster: {<<: *b}}]\n',
    '&x [*x]\n',
  ),
  fc.tuple(fc.integer({ min: 1, max: 12 }), fc.integer({ min: 1, max: 12 })).map(([depth, width]) => {
    const lines = ['l0: &l0 [x]'];
    for (let i = 1; i <= depth; i++) lines.push(`l${i}: &l${i} [${new Array(width).fill(`*l${i - 1}`).join(', ')}]`);
    return lines.join('\n');
  }),
);

const serialize = (doc: Json, yaml: boolean): string => {
  const json = JSON.stringify(doc);
  return yaml && json.length < 20_000 ? stringify(doc, { lineWidth: 0 }) : json;
};

const policy: fc.Arbitrary<TransportPolicy> = fc.record({ allowInsecure: fc.boolean() });

/** yaml's stringify costs a millisecond or more a document: YAML one time in five, JSON otherwise. */
const yamlSometimes = fc.oneof(
  { arbitrary: fc.constant(true), weight: 1 },
  { arbitrary: fc.constant(false), weight: 4 },
);

// ---------------------------------------------------------------------------------------------
// The property

/** Every string value in the input at least 8 long: none may show up in a message. */
function stringsIn(doc: unknown, out: string[] = []): string[] {
  if (typeof doc === 'string') {
    if (doc.length >= 8) out.push(doc);
  } else if (Array.isArray(doc)) {
    for (const v of doc) stringsIn(v, out);
  } else if (typeof doc === 'object' && doc !== null) {
    for (const v of Object.values(doc)) stringsIn(v, out);
  }
  return out;
}

/** About 3,000 documents: a few seconds of CPU (TLS validation of the full base costs ~4 ms). */
const RUNS = { mutations: 1200, random: 1200, textEdits: 600 };

const NODE_HINTS = /use-system-ca|Node\.js|node:|error:[0-9A-F]{8}|\bERR_|routines|unexpected error/i;

function check(text: string, p: TransportPolicy, values: string[] = []): void {
  let conn;
  try {
    conn = parseKubeconfig(text, p);
  } catch (err) {
    if (!(err instanceof KubeconfigError)) {
      throw new Error(`threw ${String(err)} instead of a KubeconfigError`, { cause: err });
    }
    expect(KUBECONFIG_REASONS).toContain(err.reason);
    const message = err.message;
    if (err.field === undefined) expect(message).toMatch(/kubeconfig/);
    else expect(message.startsWith(`${err.field}: `)).toBe(true);
    for (const secret of secrets) expect(message).not.toContain(secret);
    for (const v of values) expect(message).not.toContain(v);
    expect(message).not.toMatch(NODE_HINTS);
    return;
  }
  expect(conn.server.origin).toMatch(p.allowInsecure ? /^https?:\/\// : /^https:\/\//);
  if (!p.allowInsecure) expect(conn.tls.rejectUnauthorized).toBe(true);
  expect(conn.identity).toMatch(/^[0-9a-f]{64}$/);
  expect(['token', 'basic', 'certificate', 'none']).toContain(conn.auth.type);
  expect(conn.tls.cert === undefined).toBe(conn.tls.key === undefined);
}

describe('parseKubeconfig on generated input', () => {
  it('mutations of valid kubeconfigs (fields deleted, nulled, retyped, swapped, duplicated)', () => {
    fc.assert(
      fc.property(
        fc.nat(),
        fc.array(mutation, { minLength: 1, maxLength: 3 }),
        yamlSometimes,
        policy,
        (which, mutations, yaml, p) => {
          let doc: Json = bases[which % bases.length]!;
          for (const m of mutations) doc = isObject(doc) ? mutate(doc, m) : doc;
          check(serialize(doc, yaml), p, stringsIn(doc));
        },
      ),
      { numRuns: RUNS.mutations },
    );
  });

  it('random documents: JSON values, kubeconfig-shaped ones, raw text, alias constructs', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.jsonValue({ maxDepth: 4 }).map((d) => ({ text: serialize(d as Json, false), values: stringsIn(d) })),
          shaped.chain((d) => yamlSometimes.map((yaml) => ({ text: serialize(d, yaml), values: stringsIn(d) }))),
          fc.string({ unit: 'binary', maxLength: 200 }).map((text) => ({ text, values: [] })),
          aliases.map((text) => ({ text, values: [] })),
        ),
        policy,
        ({ text, values }, p) => check(text, p, values),
      ),
      { numRuns: RUNS.random },
    );
  });

  it('edits of the text of valid kubeconfigs (truncation, junk, YAML syntax)', () => {
    fc.assert(
      fc.property(
        fc.nat(),
        fc.boolean(),
        fc.array(textEdit, { minLength: 1, maxLength: 3 }),
        policy,
        (which, yaml, edits, p) => {
          let text = serialize(bases[which % bases.length]!, yaml);
          for (const e of edits) text = editText(text, e);
          check(text, p);
        },
      ),
      { numRuns: RUNS.textEdits },
    );
  });
});
