import { BlockList, isIP, isIPv4 } from 'node:net';

/**
 * Which networks remote apiservers (and proxies) may be in: an operator setting, since a
 * kubeconfig from a Secret could otherwise point the app at anything it can reach, such as the
 * cloud metadata service on 169.254.169.254.
 */
export interface NetworkPolicySpec {
  /** CIDRs (or single addresses) a server may be in. Empty or absent: anywhere not denied. */
  allow?: readonly string[];
  /** CIDRs (or single addresses) a server may never be in; added to DEFAULT_DENY. Deny wins over allow. */
  deny?: readonly string[];
  /** Set false to drop DEFAULT_DENY (link-local), e.g. for a lab cluster on link-local addresses. */
  defaultDeny?: boolean;
}

/** Link-local, where cloud metadata services live (169.254.169.254), and AWS's IPv6 metadata
 * address, which is not link-local. */
export const DEFAULT_DENY: readonly string[] = ['169.254.0.0/16', 'fe80::/10', 'fd00:ec2::254/128'];

export type NetworkDecision = { allowed: true } | { allowed: false; rule: string };

interface Rule {
  text: string;
  list: BlockList;
}

/** A server's address is outside the networks the operator allows. Names host, address and rule. */
export class NetworkPolicyError extends Error {
  override readonly name = 'NetworkPolicyError';
  readonly reason = 'NetworkNotAllowed';
  /** A code undici treats as final (no reconnect loop), and errors.ts can look through causes for. */
  readonly code = 'ERR_NETWORK_NOT_ALLOWED';

  constructor(
    readonly host: string,
    readonly address: string,
    readonly rule: string,
  ) {
    const where = host === address ? address : `${host} (${address})`;
    super(
      rule === 'allow'
        ? `${where} is not in any network the operator allows for remote clusters`
        : `${where} is in ${rule}, which the operator denies for remote clusters`,
    );
  }
}

function parseRule(text: string, setting: string): Rule {
  const [address = '', prefixText, extra] = text.trim().split('/');
  const family = isIP(address);
  const max = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : Number(prefixText);
  if (family === 0 || extra !== undefined || !/^\d{1,3}$/.test(prefixText ?? '0') || prefix > max) {
    // Operator input, not tenant input: safe to quote.
    throw new TypeError(`network policy ${setting} entry "${text}" is not an address or CIDR (like 10.0.0.0/8)`);
  }
  const list = new BlockList();
  list.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
  return { text: text.trim(), list };
}

/** Expands an IPv6 address (valid, no zone) into its eight 16-bit groups. */
function ipv6Groups(address: string): number[] {
  // A dotted IPv4 tail (::ffff:1.2.3.4) is two groups written differently.
  const text = address.replace(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/, (_m, a: string, b: string, c: string, d: string) =>
    [((+a << 8) | +b).toString(16), ((+c << 8) | +d).toString(16)].join(':'),
  );
  const parse = (s: string): number[] => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const [head = '', rest] = text.split('::');
  if (rest === undefined) return parse(head);
  const left = parse(head);
  const right = parse(rest);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

/**
 * The IPv4 address an IPv6 address carries, if it is one of the forms that reach IPv4 hosts:
 * IPv4-mapped (::ffff:a.b.c.d, which a dual-stack socket connects to a.b.c.d) and the NAT64
 * well-known prefix (64:ff9b::/96).
 */
export function embeddedIPv4(address: string): string | undefined {
  const plain = address.split('%')[0]!;
  if (isIP(plain) !== 6) return undefined;
  const g = ipv6Groups(plain);
  const mapped = g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff;
  const nat64 = g[0] === 0x64 && g[1] === 0xff9b && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0;
  if (!mapped && !nat64) return undefined;
  const hi = g[6] ?? 0;
  const lo = g[7] ?? 0;
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

/** CIDR allow/deny lists for the addresses of remote servers and proxies. */
export class NetworkPolicy {
  private constructor(
    private readonly allow: readonly Rule[],
    private readonly deny: readonly Rule[],
  ) {}

  /** Throws a TypeError naming the entry if a CIDR does not parse (operator settings fail fast). */
  static from(spec: NetworkPolicySpec = {}): NetworkPolicy {
    const deny = [...(spec.defaultDeny === false ? [] : DEFAULT_DENY), ...(spec.deny ?? [])];
    return new NetworkPolicy(
      (spec.allow ?? []).map((r) => parseRule(r, 'allow')),
      deny.map((r) => parseRule(r, 'deny')),
    );
  }

  /** Whether a connection to this IP address is allowed. Anything that is not an IP is refused. */
  check(address: string): NetworkDecision {
    const plain = address.replace(/^\[|\]$/g, '').split('%')[0]!;
    const family = isIP(plain);
    if (family === 0) return { allowed: false, rule: 'allow' };
    // Check every form the address reaches: ::ffff:169.254.169.254 is 169.254.169.254.
    const forms: [string, 'ipv4' | 'ipv6'][] = [[plain, family === 4 ? 'ipv4' : 'ipv6']];
    const v4 = family === 6 ? embeddedIPv4(plain) : undefined;
    if (v4 !== undefined && isIPv4(v4)) forms.push([v4, 'ipv4']);
    for (const rule of this.deny) {
      if (forms.some(([a, f]) => rule.list.check(a, f))) return { allowed: false, rule: rule.text };
    }
    if (this.allow.length === 0) return { allowed: true };
    const allowed = this.allow.some((rule) => forms.some(([a, f]) => rule.list.check(a, f)));
    return allowed ? { allowed: true } : { allowed: false, rule: 'allow' };
  }

  /** Throws NetworkPolicyError if the address is not allowed; `host` is what the kubeconfig named. */
  assertAllowed(host: string, address: string): void {
    const decision = this.check(address);
    if (!decision.allowed) throw new NetworkPolicyError(host, address, decision.rule);
  }
}
