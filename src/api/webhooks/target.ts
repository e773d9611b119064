// Where webhooks may go. A subscription URL is an instruction to make HTTP requests from inside
// the network, so by default targets must be public: a host whose addresses (after DNS
// resolution) include a loopback, unspecified, link-local, private, shared (CGNAT), multicast or
// otherwise reserved address is refused, at creation and again before every delivery (a DNS name
// can change its answer after creation). Each delivery connects to exactly the address that was
// checked (pinned), so a second resolution cannot slip in another one. Private receivers are
// allowed explicitly with `webhooks.allowedHosts`: host names, IP addresses or CIDR ranges.
import { BlockList, isIP } from 'node:net';
import { lookup } from 'node:dns/promises';

/** Resolves a host name to its addresses (injectable so tests can change a name's answer). */
export type Resolver = (host: string) => Promise<Array<{ address: string; family: number }>>;

export const systemResolver: Resolver = (host) => lookup(host, { all: true, verbatim: true });

export interface TargetPolicy {
  /** Host names (exact, case-insensitive), IP addresses and CIDR ranges allowed even when not public. */
  allowedHosts: string[];
  /** Public addresses are allowed (default); false: only allowedHosts. */
  publicTargets: boolean;
}

export type TargetCheck =
  | { ok: true; host: string; address: string; family: 4 | 6 }
  | { ok: false; reason: string };

type Range = [string, number];
const CLASSES: Array<[string, 'ipv4' | 'ipv6', Range[]]> = [
  ['unspecified', 'ipv4', [['0.0.0.0', 8]]],
  ['loopback', 'ipv4', [['127.0.0.0', 8]]],
  ['private', 'ipv4', [['10.0.0.0', 8], ['172.16.0.0', 12], ['192.168.0.0', 16]]],
  ['shared (CGNAT)', 'ipv4', [['100.64.0.0', 10]]],
  ['link-local', 'ipv4', [['169.254.0.0', 16]]],
  ['multicast', 'ipv4', [['224.0.0.0', 4]]],
  ['reserved', 'ipv4', [['192.0.0.0', 24], ['192.0.2.0', 24], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24], ['240.0.0.0', 4]]],
  ['unspecified', 'ipv6', [['::', 128]]],
  ['loopback', 'ipv6', [['::1', 128]]],
  ['private', 'ipv6', [['fc00::', 7], ['fec0::', 10]]],
  ['link-local', 'ipv6', [['fe80::', 10]]],
  ['multicast', 'ipv6', [['ff00::', 8]]],
  ['reserved', 'ipv6', [['100::', 64], ['2001:db8::', 32]]],
];
const LISTS = CLASSES.map(([name, type, ranges]) => {
  const list = new BlockList();
  for (const [net, prefix] of ranges) list.addSubnet(net, prefix, type);
  return { name, type, list };
});

/** The eight 16-bit groups of an IPv6 address (with an optional trailing dotted quad). */
function v6Groups(a: string): number[] {
  let s = a.toLowerCase().split('%')[0];
  const quad = /(\d+\.\d+\.\d+\.\d+)$/.exec(s);
  if (quad) {
    const [x, y, z, w] = quad[1].split('.').map(Number);
    s = s.slice(0, -quad[1].length) + `${((x << 8) | y).toString(16)}:${((z << 8) | w).toString(16)}`;
  }
  const [head, tail] = s.split('::');
  const h = head ? head.split(':') : [];
  const t = tail === undefined ? [] : tail ? tail.split(':') : [];
  const fill = tail === undefined ? [] : Array(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((g) => parseInt(g, 16));
}

/** An IPv4 address carried inside an IPv6 one (mapped, compatible, NAT64, 6to4), which routes like it. */
function embeddedV4(a: string): string | null {
  const g = v6Groups(a);
  const v4 = (hi: number, lo: number) => `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
  const zero = (from: number, to: number) => g.slice(from, to).every((x) => x === 0);
  if (zero(0, 5) && g[5] === 0xffff) return v4(g[6], g[7]); // ::ffff:a.b.c.d
  if (zero(0, 6) && g[6] >= 0x100) return v4(g[6], g[7]); // ::a.b.c.d (deprecated; not ::1 or ::)
  if (g[0] === 0x64 && g[1] === 0xff9b && zero(2, 6)) return v4(g[6], g[7]); // 64:ff9b::/96
  if (g[0] === 0x2002) return v4(g[1], g[2]); // 6to4
  return null;
}

/** The class of a non-public address ("loopback", "private", ...), or null for a public one. */
export function addressClass(address: string): string | null {
  const family = isIP(address);
  if (family === 0) return 'invalid';
  if (family === 6) {
    const inner = embeddedV4(address);
    if (inner && inner !== '0.0.0.0') return addressClass(inner);
  }
  const type = family === 4 ? 'ipv4' : 'ipv6';
  return LISTS.find((l) => l.type === type && l.list.check(address, type))?.name ?? null;
}

/** The allow-list, parsed once. */
export class AllowList {
  private readonly names = new Set<string>();
  private readonly ranges = new BlockList();

  constructor(entries: string[]) {
    for (const e of entries) {
      const [net, prefix] = e.split('/');
      const family = isIP(net);
      if (family && prefix !== undefined) this.ranges.addSubnet(net, Number(prefix), family === 4 ? 'ipv4' : 'ipv6');
      else if (family) this.ranges.addAddress(net, family === 4 ? 'ipv4' : 'ipv6');
      else this.names.add(e.toLowerCase());
    }
  }

  hasName(host: string): boolean {
    return this.names.has(host.toLowerCase());
  }

  hasAddress(address: string): boolean {
    const family = isIP(address);
    return family !== 0 && this.ranges.check(address, family === 4 ? 'ipv4' : 'ipv6');
  }
}

/**
 * Checks a webhook URL against the policy, resolving its host. Every address the name resolves
 * to must pass (a name with one public and one private address is refused); the first one is
 * the one to connect to.
 */
export async function checkTarget(url: URL, policy: TargetPolicy, allow: AllowList, resolve: Resolver = systemResolver): Promise<TargetCheck> {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return { ok: false, reason: 'must be http or https' };
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  let addresses: Array<{ address: string; family: number }>;
  if (isIP(host)) addresses = [{ address: host, family: isIP(host) }];
  else {
    try {
      addresses = await resolve(host);
    } catch {
      return { ok: false, reason: `host ${host} does not resolve` };
    }
    if (addresses.length === 0) return { ok: false, reason: `host ${host} does not resolve` };
  }
  const named = allow.hasName(host);
  for (const { address } of addresses) {
    if (named || allow.hasAddress(address)) continue;
    const cls = addressClass(address);
    if (cls) return { ok: false, reason: `${host} resolves to ${/^[aeiu]/.test(cls) ? 'an' : 'a'} ${cls} address; list private receivers in webhooks.allowedHosts` };
    if (!policy.publicTargets) return { ok: false, reason: `${host} is not in webhooks.allowedHosts` };
  }
  const first = addresses[0];
  return { ok: true, host, address: first.address, family: first.family === 6 ? 6 : 4 };
}
