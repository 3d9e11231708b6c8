import {
  createHash,
  createHmac,
  createPrivateKey,
  createSecretKey,
  randomBytes,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Scalar } from 'yaml';

/**
 * A strict parser of kubeconfig text from a Secret. The Secret is tenant input, so unlike
 * client-go or client-node this parser never reads files or runs programs, refuses what it
 * does not honour instead of ignoring it, checks every type, validates TLS material up front,
 * and never puts any content of the kubeconfig into an error message (messages name fields).
 */

/** Why a kubeconfig is refused. Stable: they become condition reasons and metric labels. */
export const KUBECONFIG_REASONS = [
  /** Not YAML/JSON, wrong shape or type, bad URL, TLS material that does not parse. */
  'InvalidKubeconfig',
  /** No current-context, or it names a context, cluster or user that is not there. */
  'NoUsableContext',
  /** Names local files or programs (certificate-authority, client-key, token-file, exec…). */
  'UnsafeKubeconfig',
  /** Plain http://, insecure-skip-tls-verify, or proxy credentials sent in clear: refused unless allowed. */
  'InsecureTransport',
  /** A proxy-url scheme other than http:// or https:// (e.g. socks5://). */
  'UnsupportedProxy',
  /** A field this runtime does not honour and must not silently ignore (impersonation). */
  'UnsupportedKubeconfig',
] as const;

export type KubeconfigReason = (typeof KUBECONFIG_REASONS)[number];

/** A kubeconfig that does not give a usable connection. The message names the field, never a value. */
export class KubeconfigError extends Error {
  override readonly name = 'KubeconfigError';

  constructor(
    readonly reason: KubeconfigReason,
    message: string,
    /** Path of the offending field, like `users[0].user.client-key-data`; absent for the document. */
    readonly field?: string,
  ) {
    super(field === undefined ? message : `${field}: ${message}`);
  }
}

/** Operator settings; the defaults are the safe choice. */
export interface TransportPolicy {
  /** Accept plain http:// servers, insecure-skip-tls-verify, and credentials to an http:// proxy
   * (as Flux's --insecure-kubeconfig-tls). Default false. */
  allowInsecure?: boolean;
}

export interface ProxyConfig {
  /** e.g. http://proxy.corp:3128, without credentials. */
  origin: string;
  /** Host name or IP (IPv6 without brackets), for the network policy. */
  hostname: string;
  port: number;
  /** Proxy-Authorization value (Basic) from the URL's user-info; sent to the proxy only. */
  authorization?: string;
}

export type ClusterAuth =
  | { type: 'token'; token: string }
  | { type: 'basic'; username: string; password: string }
  /** Only the TLS client certificate (in `tls`) authenticates. */
  | { type: 'certificate' }
  | { type: 'none' };

/** Everything needed to connect to the current context's cluster; all TLS material is PEM text. */
export interface ClusterConnectionConfig {
  server: {
    /** https://host:port (or http:// when allowed), as undici's `origin`. */
    origin: string;
    /** Path prefix of the server URL without a trailing slash; usually empty. */
    basePath: string;
    /** Host name or IP (IPv6 without brackets). */
    hostname: string;
    port: number;
  };
  tls: {
    ca?: string;
    /** Client certificate chain, leaf first. Also set when `auth` is a token (client-go sends both). */
    cert?: string;
    key?: string;
    servername?: string;
    rejectUnauthorized: boolean;
  };
  /** What goes into the Authorization header. */
  auth: ClusterAuth;
  proxy?: ProxyConfig;
  /** Changes exactly when the connection does (server, TLS, credentials, proxy). An HMAC with a
   * per-process key: comparable within this process, safe to log, meaningless elsewhere. */
  identity: string;
}

/** Bigger than any real kubeconfig (a large CA bundle is ~200 KiB). */
export const MAX_KUBECONFIG_BYTES = 1024 * 1024;
/** A kubeconfig has a few hundred indicators (see structureCount); a CA bundle as wrapped base64
 * adds a few thousand line breaks. */
export const MAX_STRUCTURE = 10_000;
/** 1 at the char codes of YAML indicators and newline: a table, as this runs over every character. */
const INDICATORS = new Uint8Array(128);
for (const c of '\n[]{},:-?!&*#|>\'"%@`') INDICATORS[c.charCodeAt(0)] = 1;
/** Real kubeconfigs use no YAML aliases; a few are fine, an alias bomb is not. */
const MAX_ALIAS_COUNT = 16;
/** A KeyObject: createHmac with a Buffer key re-imports it on every call (about 4x slower). */
const IDENTITY_KEY = createSecretKey(randomBytes(32));

type Mapping = Record<string, unknown>;

interface Entry {
  name: string;
  body: Mapping;
  /** e.g. `clusters[0].cluster` */
  path: string;
}

const invalid = (field: string | undefined, message: string): KubeconfigError =>
  new KubeconfigError('InvalidKubeconfig', message, field);

function isMapping(value: unknown): value is Mapping {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === Object.prototype || proto === null;
}

/** Own properties only: a key named `__proto__` or `constructor` is just data. */
function get(map: Mapping, key: string): unknown {
  return Object.hasOwn(map, key) ? map[key] : undefined;
}

/** null, absent and '' all mean "not set", as in client-go. */
function isUnset(value: unknown): value is null | undefined | '' {
  return value === undefined || value === null || value === '';
}

function optionalString(map: Mapping, key: string, path: string): string | undefined {
  const value = get(map, key);
  if (isUnset(value)) return undefined;
  if (typeof value !== 'string') throw invalid(`${path}.${key}`, 'must be a string');
  return value;
}

// eslint-disable-next-line no-control-regex
const CONTROL_OR_SPACE = /[\u0000-\u0020\u007f-\u009f\u2028\u2029]/;

// ---------------------------------------------------------------------------------------------
// Document

/** Line breaks and YAML indicator characters ([]{},:-?!&*#|>'"%@`): a bound on the number of
 * nodes and tokens, counted before parsing. The yaml package spends microseconds per node, and
 * far more on some shapes (1 MiB of "? " took 40 s), all the while blocking the event loop. Base64 and
 * plain text have none of these characters, so a large CA bundle counts for little. */
function structureCount(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 128) count += INDICATORS[c]!;
  }
  return count;
}

/** The first key that repeats within a mapping, found in linear time (yaml's own check,
 * `uniqueKeys`, compares every pair of keys: a mapping with 50,000 keys took a minute). */
function duplicateKey(root: unknown): Scalar | undefined {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        if (isScalar(pair.key)) {
          const key = String(pair.key.value);
          if (seen.has(key)) return pair.key;
          seen.add(key);
        }
        stack.push(pair.value);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) stack.push(item);
    }
  }
  return undefined;
}

function yamlError(code: string, pos: { line: number; col: number } | undefined): KubeconfigError {
  const where = pos ? ` at line ${pos.line}, column ${pos.col}` : '';
  return invalid(undefined, `the kubeconfig is not valid YAML or JSON${where} (${code})`);
}

/** JSON.parse for text JSON.stringify wrote, undefined when it is not JSON (then YAML reads it). */
function readJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function readDocument(text: unknown, json: boolean): Mapping {
  if (typeof text !== 'string') throw invalid(undefined, 'the kubeconfig is not text');
  if (Buffer.byteLength(text, 'utf8') > MAX_KUBECONFIG_BYTES) {
    throw invalid(undefined, `the kubeconfig is larger than ${MAX_KUBECONFIG_BYTES / 1024} KiB; no real one is`);
  }
  if (structureCount(text) > MAX_STRUCTURE) {
    throw invalid(
      undefined,
      `the kubeconfig has more than ${MAX_STRUCTURE} lines and YAML indicators ([]{},:-?…); no real one has`,
    );
  }
  let value: unknown = json ? readJson(text) : undefined;
  if (value === undefined) value = readYaml(text);
  if (value === null || value === undefined) throw invalid(undefined, 'the kubeconfig is empty');
  if (!isMapping(value)) throw invalid(undefined, 'the kubeconfig must be a mapping (kind: Config)');
  const kind = get(value, 'kind');
  if (kind !== undefined && kind !== 'Config') throw invalid('kind', 'must be Config');
  const apiVersion = get(value, 'apiVersion');
  if (apiVersion !== undefined && apiVersion !== 'v1') throw invalid('apiVersion', 'must be v1');
  return value;
}

function readYaml(text: string): unknown {
  try {
    const lines = new LineCounter();
    // logLevel 'silent' keeps yaml from printing warnings (which quote the source) to the console.
    const docs = parseAllDocuments(text, {
      version: '1.2',
      schema: 'core',
      merge: false,
      resolveKnownTags: false,
      stringKeys: true,
      uniqueKeys: false,
      strict: true,
      logLevel: 'silent',
      lineCounter: lines,
    });
    if (docs.length === 0) throw invalid(undefined, 'the kubeconfig is empty');
    if (docs.length > 1) throw invalid(undefined, 'the kubeconfig holds several YAML documents; keep exactly one');
    const doc = docs[0]!;
    // yaml's messages quote the source (which may hold a key): keep only the code and position.
    const problem = doc.errors[0] ?? doc.warnings[0];
    if (problem) throw yamlError(problem.code, problem.linePos?.[0]);
    const repeated = duplicateKey(doc.contents);
    if (repeated) throw yamlError('DUPLICATE_KEY', repeated.range ? lines.linePos(repeated.range[0]) : undefined);
    return doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT }) as unknown;
  } catch (err) {
    if (err instanceof KubeconfigError) throw err;
    // An alias bomb, an unresolved alias, or a nesting too deep for the stack.
    throw invalid(undefined, 'the kubeconfig could not be read as YAML or JSON (too many or unresolved aliases?)');
  }
}

/** `clusters`, `users`, `contexts`: lists of {name, <item>} with unique names. */
function namedList(doc: Mapping, list: string, item: string): Entry[] {
  const value = get(doc, list);
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw invalid(list, `must be a list of entries with name and ${item}`);
  const seen = new Set<string>();
  return value.map((raw: unknown, i): Entry => {
    const at = `${list}[${i}]`;
    if (!isMapping(raw)) throw invalid(at, `must be a mapping with name and ${item}`);
    const name = get(raw, 'name');
    if (typeof name !== 'string' || name === '') throw invalid(`${at}.name`, 'must be a non-empty string');
    if (seen.has(name)) throw invalid(`${at}.name`, `another entry in ${list} has the same name; names must be unique`);
    seen.add(name);
    const body = get(raw, item) ?? {};
    if (!isMapping(body)) throw invalid(`${at}.${item}`, 'must be a mapping');
    return { name, body, path: `${at}.${item}` };
  });
}

// ---------------------------------------------------------------------------------------------
// Local files and programs

const LOCAL_REFERENCES: Record<'cluster' | 'user', Record<string, string>> = {
  cluster: { 'certificate-authority': 'carry the CA inline as certificate-authority-data' },
  user: {
    'client-certificate': 'carry the certificate inline as client-certificate-data',
    'client-key': 'carry the key inline as client-key-data',
    'token-file': 'carry the token inline as token',
    tokenFile: 'carry the token inline as token',
    exec: 'use a token or a client certificate (client-certificate-data, client-key-data) instead',
    'auth-provider': 'use a token or a client certificate (client-certificate-data, client-key-data) instead',
  },
};

/** In every entry, used or not: such a kubeconfig was written for a workstation, not a Secret. */
function refuseLocalReferences(entries: Entry[], kind: 'cluster' | 'user'): void {
  for (const entry of entries) {
    for (const [field, fix] of Object.entries(LOCAL_REFERENCES[kind])) {
      if (!Object.hasOwn(entry.body, field)) continue;
      const what = field === 'exec' || field === 'auth-provider' ? 'runs a credential plugin' : 'names a local file';
      throw new KubeconfigError(
        'UnsafeKubeconfig',
        `${what}, which a kubeconfig from a Secret may not do; remove it and ${fix}`,
        `${entry.path}.${field}`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Current context

function currentContext(
  doc: Mapping,
  contexts: Entry[],
  clusters: Entry[],
  users: Entry[],
): { cluster: Entry; user: Entry } {
  const name = get(doc, 'current-context');
  if (isUnset(name)) {
    throw new KubeconfigError(
      'NoUsableContext',
      'is not set; set it to the name of an entry in contexts',
      'current-context',
    );
  }
  if (typeof name !== 'string') throw invalid('current-context', 'must be a string');
  const context = contexts.find((c) => c.name === name);
  if (!context) throw new KubeconfigError('NoUsableContext', 'no entry in contexts has this name', 'current-context');
  const pick = (key: 'cluster' | 'user', entries: Entry[], list: string): Entry => {
    const field = `${context.path}.${key}`;
    const ref = get(context.body, key);
    if (isUnset(ref)) throw new KubeconfigError('NoUsableContext', `is not set; name an entry in ${list}`, field);
    if (typeof ref !== 'string') throw invalid(field, 'must be a string');
    const entry = entries.find((e) => e.name === ref);
    if (!entry) throw new KubeconfigError('NoUsableContext', `no entry in ${list} has this name`, field);
    return entry;
  };
  return { cluster: pick('cluster', clusters, 'clusters'), user: pick('user', users, 'users') };
}

// ---------------------------------------------------------------------------------------------
// URLs

function parseUrl(value: string, field: string, example: string): URL {
  if (CONTROL_OR_SPACE.test(value)) throw invalid(field, 'contains spaces or control characters');
  try {
    return new URL(value);
  } catch {
    throw invalid(field, `is not a URL; write it like ${example}`);
  }
}

function defaultPort(url: URL): number {
  return url.port ? Number(url.port) : url.protocol === 'https:' ? 443 : 80;
}

const unbracket = (hostname: string): string => hostname.replace(/^\[(.*)\]$/, '$1');

function parseServer(cluster: Entry, policy: TransportPolicy): ClusterConnectionConfig['server'] {
  const field = `${cluster.path}.server`;
  const raw = optionalString(cluster.body, 'server', cluster.path);
  if (raw === undefined) {
    throw new KubeconfigError('NoUsableContext', 'is not set; the cluster needs an https:// server URL', field);
  }
  const url = parseUrl(raw, field, 'https://host:6443');
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw invalid(field, 'must be an https:// URL; other schemes (file, unix, …) are not supported');
  }
  if (url.username || url.password) {
    throw invalid(field, 'carries credentials in the URL; remove them and put credentials in the user entry');
  }
  // A query would be dropped from every request, a fragment never sent: refuse rather than ignore.
  if (url.search || raw.includes('?')) throw invalid(field, 'has a query (?…), which requests would drop; remove it');
  if (url.hash || raw.includes('#')) throw invalid(field, 'has a fragment (#…); remove it');
  if (url.protocol === 'http:' && !policy.allowInsecure) {
    throw new KubeconfigError(
      'InsecureTransport',
      'is plain http://, so requests and credentials would travel unencrypted; use https:// (insecure kubeconfigs are refused unless the operator allows them)',
      field,
    );
  }
  return {
    origin: url.origin,
    basePath: url.pathname.replace(/\/+$/, ''),
    hostname: unbracket(url.hostname),
    port: defaultPort(url),
  };
}

function decodeUserInfo(part: string, field: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw invalid(field, 'has user-info that is not valid percent-encoding');
  }
}

function parseProxy(cluster: Entry, policy: TransportPolicy): ProxyConfig | undefined {
  const field = `${cluster.path}.proxy-url`;
  const raw = optionalString(cluster.body, 'proxy-url', cluster.path);
  if (raw === undefined) return undefined;
  const url = parseUrl(raw, field, 'http://proxy:3128');
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new KubeconfigError(
      'UnsupportedProxy',
      'must be an http:// or https:// proxy (HTTP CONNECT); other kinds, such as socks5://, are not supported',
      field,
    );
  }
  if ((url.pathname !== '/' && url.pathname !== '') || url.search || url.hash || /[?#]/.test(raw)) {
    throw invalid(field, 'must be only scheme, host and port (no path, query or fragment)');
  }
  let authorization: string | undefined;
  if (url.username || url.password) {
    const username = decodeUserInfo(url.username, field);
    const password = decodeUserInfo(url.password, field);
    if (username.includes(':') || CONTROL_OR_SPACE.test(username)) {
      throw invalid(field, 'has a user name with ":", spaces or control characters, which Basic auth cannot carry');
    }
    if (url.protocol === 'http:' && !policy.allowInsecure) {
      throw new KubeconfigError(
        'InsecureTransport',
        'sends proxy credentials unencrypted to an http:// proxy; use an https:// proxy or a proxy without credentials',
        field,
      );
    }
    authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  }
  const proxy: ProxyConfig = { origin: url.origin, hostname: unbracket(url.hostname), port: defaultPort(url) };
  return authorization === undefined ? proxy : { ...proxy, authorization };
}

// ---------------------------------------------------------------------------------------------
// TLS material

interface PemBlock {
  label: string;
  encrypted: boolean;
  der: Buffer;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** Strict base64 as Go's StdEncoding reads it (line breaks ignored, padding required). */
function strictBase64(text: string): Buffer | undefined {
  const compact = text.replace(/\r?\n/g, '');
  if (compact.length % 4 !== 0 || !BASE64.test(compact)) return undefined;
  return Buffer.from(compact, 'base64');
}

/** PEM blocks, read line by line (linear time on any input). Text between blocks is ignored,
 * as Go's pem.Decode does; undefined if a block is malformed. */
function pemBlocks(text: string): PemBlock[] | undefined {
  const blocks: PemBlock[] = [];
  let open: { label: string; encrypted: boolean; body: string[] } | undefined;
  for (const rawLine of text.split('\n')) {
    const line = rawLine.trim();
    const begin = /^-----BEGIN ([A-Z0-9 ]{1,64})-----$/.exec(line);
    if (begin) {
      if (open) return undefined;
      open = { label: begin[1]!, encrypted: false, body: [] };
    } else if (open && line.startsWith('-----END ')) {
      if (line !== `-----END ${open.label}-----`) return undefined;
      const der = strictBase64(open.body.join(''));
      if (!der || der.length === 0) return undefined;
      blocks.push({ label: open.label, encrypted: open.encrypted, der });
      open = undefined;
    } else if (open) {
      // RFC 1421 headers (Proc-Type: 4,ENCRYPTED…) come before the body.
      if (line.includes(':')) open.encrypted ||= /^Proc-Type:.*ENCRYPTED/i.test(line);
      else open.body.push(line);
    }
  }
  return open ? undefined : blocks;
}

/** PEM text and the field it came from. */
type Pem = { text: string; field: string };

/** The PEM text a `*-data` field holds, from base64. */
function pemField(map: Mapping, key: string, path: string): Pem | undefined {
  const field = `${path}.${key}`;
  const value = optionalString(map, key, path);
  if (value === undefined) return undefined;
  const bytes = strictBase64(value);
  if (!bytes) throw invalid(field, 'is not valid base64 (it holds the base64 of PEM text)');
  return { text: bytes.toString('latin1'), field };
}

/** Every CERTIFICATE block, each checked; re-encoded so Node gets only what we validated. */
function certificates(pem: Pem): X509Certificate[] {
  const blocks = pemBlocks(pem.text);
  if (!blocks)
    throw invalid(pem.field, 'is not well-formed PEM (check the BEGIN/END lines and the base64 between them)');
  const certs = blocks.filter((b) => b.label === 'CERTIFICATE');
  if (certs.length === 0) throw invalid(pem.field, 'holds no PEM certificate (-----BEGIN CERTIFICATE-----)');
  return certs.map((block, i) => {
    try {
      return new X509Certificate(block.der);
    } catch {
      throw invalid(pem.field, `certificate ${i + 1} is not a valid X.509 certificate`);
    }
  });
}

const KEY_TYPES: Record<string, 'pkcs8' | 'pkcs1' | 'sec1'> = {
  'PRIVATE KEY': 'pkcs8',
  'RSA PRIVATE KEY': 'pkcs1',
  'EC PRIVATE KEY': 'sec1',
};

function privateKey(pem: Pem): KeyObject {
  const blocks = pemBlocks(pem.text);
  if (!blocks)
    throw invalid(pem.field, 'is not well-formed PEM (check the BEGIN/END lines and the base64 between them)');
  const keys = blocks.filter((b) => b.label.endsWith('PRIVATE KEY'));
  if (keys.length !== 1) throw invalid(pem.field, 'must hold exactly one PEM private key');
  const block = keys[0]!;
  if (block.encrypted || block.label === 'ENCRYPTED PRIVATE KEY') {
    throw invalid(pem.field, 'is an encrypted key; the key must be unencrypted (there is no way to pass a passphrase)');
  }
  const type = KEY_TYPES[block.label];
  if (!type) throw invalid(pem.field, 'holds a kind of private key that is not supported (use PKCS#8, RSA or EC)');
  try {
    return createPrivateKey({ key: block.der, format: 'der', type });
  } catch {
    throw invalid(pem.field, 'is not a valid private key');
  }
}

/** Node's own TLS check, for what X.509 parsing accepts but OpenSSL will not use (e.g. weak keys). */
function usableForTls(options: { ca?: string; cert?: string; key?: string }, field: string, what: string): void {
  try {
    createSecureContext(options);
  } catch {
    throw invalid(field, `is not usable for TLS (${what})`);
  }
}

/** TLS material as checked: PEM re-encoded from what was validated, and the SecureContext that
 * proves OpenSSL takes it (building one costs about as much as a TLS handshake). */
interface CheckedMaterial {
  ca?: string;
  cert?: string;
  key?: string;
  context?: SecureContext;
  /** SHA-256 of ca, cert and key as re-encoded, for the identity (hashed once, not per parse). */
  digest: string;
}

const NO_MATERIAL: CheckedMaterial = { digest: '' };

/** Of every tls object parseKubeconfig returned: the transport connects with its context. */
const checkedTls = new WeakMap<ClusterConnectionConfig['tls'], CheckedMaterial>();

/** The SecureContext parseKubeconfig built for `tls` (the object it returned), if any. */
export function checkedSecureContext(tls: ClusterConnectionConfig['tls']): SecureContext | undefined {
  return checkedTls.get(tls)?.context;
}

/**
 * Material already checked, by content, while a connection still uses it: clusters behind one CA
 * or one credential (and every re-read of the same Secret) share the checks and the context, as
 * client-go's TLS transport cache shares a transport between identical TLS configs. Held weakly:
 * it goes with the last cluster that uses it. Failures are never kept.
 */
const checkedByContent = new Map<string, WeakRef<CheckedMaterial>>();
const forgetChecked = new FinalizationRegistry<string>((key) => {
  if (!checkedByContent.get(key)?.deref()) checkedByContent.delete(key);
});

function checkedMaterial(ca: Pem | undefined, cert: Pem | undefined, key: Pem | undefined): CheckedMaterial {
  if (!ca && !cert) return NO_MATERIAL;
  const id = createHash('sha256')
    .update(JSON.stringify([ca?.text ?? null, cert?.text ?? null, key?.text ?? null]))
    .digest('base64');
  const known = checkedByContent.get(id)?.deref();
  if (known) return known;
  const material = checkMaterial(ca, cert, key);
  checkedByContent.set(id, new WeakRef(material));
  forgetChecked.register(material, id);
  return material;
}

function checkMaterial(caPem: Pem | undefined, certPem: Pem | undefined, keyPem: Pem | undefined): CheckedMaterial {
  const material: CheckedMaterial = { digest: '' };
  if (caPem) {
    material.ca = certificates(caPem)
      .map((c) => c.toString())
      .join('');
  }
  if (certPem && keyPem) {
    const chain = certificates(certPem);
    const key = privateKey(keyPem);
    let matches = false;
    try {
      matches = chain[0]!.checkPrivateKey(key);
    } catch {
      /* a key type the certificate cannot use: same answer */
    }
    if (!matches) throw invalid(keyPem.field, 'is not the key of the (first) certificate in client-certificate-data');
    material.cert = chain.map((c) => c.toString()).join('');
    material.key = key.export({ type: 'pkcs8', format: 'pem' }) as string;
  }
  // One context for CA and client certificate together (what the transport needs); when it
  // fails, each part alone tells which field to fix.
  const { ca, cert, key } = material;
  try {
    material.context = createSecureContext({ ca, cert, key });
  } catch {
    if (ca !== undefined && caPem) usableForTls({ ca }, caPem.field, 'as trusted CA certificates');
    if (cert !== undefined && certPem) {
      usableForTls({ cert, key }, certPem.field, 'with client-key-data, e.g. a key too weak');
    }
    throw invalid((certPem ?? caPem)?.field, 'is not usable for TLS');
  }
  material.digest = createHash('sha256')
    .update(JSON.stringify([ca ?? null, cert ?? null, key ?? null]))
    .digest('base64');
  return material;
}

function parseTls(cluster: Entry, user: Entry, policy: TransportPolicy): ClusterConnectionConfig['tls'] {
  const insecureField = `${cluster.path}.insecure-skip-tls-verify`;
  const insecure = get(cluster.body, 'insecure-skip-tls-verify') ?? false;
  if (typeof insecure !== 'boolean') throw invalid(insecureField, 'must be true or false');
  const caPem = pemField(cluster.body, 'certificate-authority-data', cluster.path);
  if (insecure && caPem) {
    throw invalid(
      insecureField,
      'cannot be combined with certificate-authority-data (client-go refuses this too); remove one',
    );
  }
  if (insecure && !policy.allowInsecure) {
    throw new KubeconfigError(
      'InsecureTransport',
      'turns off server certificate verification; set certificate-authority-data instead (insecure kubeconfigs are refused unless the operator allows them)',
      insecureField,
    );
  }
  const servername = optionalString(cluster.body, 'tls-server-name', cluster.path);
  if (servername !== undefined && (servername.length > 253 || !/^[A-Za-z0-9._:-]+$/.test(servername))) {
    throw invalid(`${cluster.path}.tls-server-name`, 'must be a DNS name');
  }
  const certPem = pemField(user.body, 'client-certificate-data', user.path);
  const keyPem = pemField(user.body, 'client-key-data', user.path);
  if (certPem && !keyPem) throw invalid(certPem.field, 'is set without client-key-data; set both or neither');
  if (keyPem && !certPem) throw invalid(keyPem.field, 'is set without client-certificate-data; set both or neither');
  const material = checkedMaterial(caPem, certPem, keyPem);
  const { ca, cert, key } = material;
  const tls: ClusterConnectionConfig['tls'] = {
    ...(ca !== undefined && { ca }),
    ...(servername !== undefined && { servername }),
    ...(cert !== undefined && { cert, key }),
    rejectUnauthorized: !insecure,
  };
  checkedTls.set(tls, material);
  return tls;
}

// ---------------------------------------------------------------------------------------------
// Credentials

/** Impersonation changes who the requests act as: refused rather than silently dropped. */
const IMPERSONATION = ['as', 'as-uid', 'as-groups', 'as-user-extra'];

function isEmpty(value: unknown): boolean {
  if (isUnset(value)) return true;
  if (Array.isArray(value)) return value.length === 0;
  return isMapping(value) && Object.keys(value).length === 0;
}

function parseAuth(user: Entry, hasClientCert: boolean): ClusterAuth {
  for (const field of IMPERSONATION) {
    if (!isEmpty(get(user.body, field))) {
      throw new KubeconfigError(
        'UnsupportedKubeconfig',
        'impersonation is not supported; give the credentials of the identity to act as',
        `${user.path}.${field}`,
      );
    }
  }
  const token = optionalString(user.body, 'token', user.path);
  const username = optionalString(user.body, 'username', user.path);
  const password = optionalString(user.body, 'password', user.path);
  if (token !== undefined && (username !== undefined || password !== undefined)) {
    throw invalid(`${user.path}.token`, 'cannot be combined with username/password; keep one');
  }
  if (token !== undefined) {
    // It goes into a header: anything else would fail there with a message of undici's.
    if (!/^[\x21-\x7e]+$/.test(token)) throw invalid(`${user.path}.token`, 'must be printable ASCII without spaces');
    return { type: 'token', token };
  }
  if (password !== undefined && username === undefined) {
    throw invalid(`${user.path}.password`, 'is set without username');
  }
  if (username !== undefined) {
    if (username.includes(':') || CONTROL_OR_SPACE.test(username)) {
      throw invalid(`${user.path}.username`, 'must not contain ":", spaces or control characters');
    }
    // eslint-disable-next-line no-control-regex
    if (password !== undefined && /[\u0000-\u001f\u007f]/.test(password)) {
      throw invalid(`${user.path}.password`, 'must not contain control characters');
    }
    return { type: 'basic', username, password: password ?? '' };
  }
  return hasClientCert ? { type: 'certificate' } : { type: 'none' };
}

// ---------------------------------------------------------------------------------------------

function identityOf(config: Omit<ClusterConnectionConfig, 'identity'>): string {
  const { server, tls, auth, proxy } = config;
  const parts = [
    server.origin,
    server.basePath,
    checkedTls.get(tls)?.digest ?? null,
    tls.servername ?? null,
    tls.rejectUnauthorized,
    auth,
    proxy ?? null,
  ];
  return createHmac('sha256', IDENTITY_KEY).update(JSON.stringify(parts)).digest('hex');
}

export interface ParseOptions {
  /** The text is JSON.stringify's output (KubeConfig.exportConfig()): read it with JSON.parse,
   * several times faster than YAML; it cannot repeat a key. Anything else is read as YAML. */
  json?: boolean;
}

/**
 * Parses kubeconfig text (YAML or JSON) into the connection of its current context. Throws
 * KubeconfigError (never anything else) when the text does not give a usable, safe connection.
 * Only the current context's cluster and user are checked in depth; every entry is checked for
 * its shape and for references to local files and programs.
 */
export function parseKubeconfig(
  text: string,
  policy: TransportPolicy = {},
  options: ParseOptions = {},
): ClusterConnectionConfig {
  try {
    const doc = readDocument(text, options.json === true);
    const clusters = namedList(doc, 'clusters', 'cluster');
    const users = namedList(doc, 'users', 'user');
    const contexts = namedList(doc, 'contexts', 'context');
    refuseLocalReferences(clusters, 'cluster');
    refuseLocalReferences(users, 'user');
    const { cluster, user } = currentContext(doc, contexts, clusters, users);
    const server = parseServer(cluster, policy);
    const proxy = parseProxy(cluster, policy);
    const tls = parseTls(cluster, user, policy);
    const auth = parseAuth(user, tls.cert !== undefined);
    const config = { server, tls, auth, ...(proxy ? { proxy } : {}) };
    return { ...config, identity: identityOf(config) };
  } catch (err) {
    if (err instanceof KubeconfigError) throw err;
    // A bug of ours must not leak a message that might quote the input.
    throw invalid(undefined, 'the kubeconfig could not be read (unexpected error)');
  }
}
