/**
 * `dns.allowFrom`: the networks whose queries DNS answers, as BIND's `allow-query` does. A query
 * from anywhere else is answered REFUSED (header, question and OPT only: no data, and no bigger
 * than the query, so it cannot amplify). An empty list allows every source.
 *
 * DNS has no token, so this list is what keeps catalog data from clients that HTTP would turn
 * away when `auth.protectReads` is on.
 */
import { peerOctets } from './address.js';

export interface Network {
  /** 4 or 16 octets, host bits zero. */
  octets: Buffer;
  prefix: number;
}

/**
 * `10.0.0.0/8`, `fd00::/8`, or a bare address (a /32 or /128). Returns why the text is not one,
 * in words fit for a one-line config error, otherwise.
 */
export function parseNetwork(text: string): Network | string {
  const slash = text.indexOf('/');
  const address = slash === -1 ? text : text.slice(0, slash);
  // A zone (fe80::1%eth0) names an interface, not a network.
  const octets = address.includes('%') ? undefined : peerOctets(address);
  if (octets === undefined) return `"${text}" is not an IPv4 or IPv6 address or CIDR`;
  const width = octets.length * 8;
  let prefix = width;
  if (slash !== -1) {
    const digits = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(digits) || Number(digits) > width) {
      return `"${text}" needs a prefix length from 0 to ${width}`;
    }
    prefix = Number(digits);
  }
  const network = Buffer.from(octets);
  mask(network, prefix);
  // Like BIND, refuse 10.0.0.1/8: the author meant either 10.0.0.0/8 or 10.0.0.1/32, and guessing
  // wrong either opens or closes the server to a whole network.
  if (!network.equals(octets)) return `"${text}" has bits set past /${prefix}`;
  return { octets: network, prefix };
}

function mask(octets: Buffer, prefix: number): void {
  for (let i = 0; i < octets.length; i++) {
    const keep = Math.max(0, Math.min(8, prefix - i * 8));
    octets[i] &= (0xff << (8 - keep)) & 0xff;
  }
}

/** Whether `octets` (4 or 16) fall in `network`. */
export function containsAddress(network: Network, octets: Buffer): boolean {
  if (network.octets.length !== octets.length) return false;
  const whole = network.prefix >> 3;
  for (let i = 0; i < whole; i++) if (network.octets[i] !== octets[i]) return false;
  const rest = network.prefix & 7;
  if (rest === 0) return true;
  const bits = (0xff << (8 - rest)) & 0xff;
  return (octets[whole] & bits) === network.octets[whole];
}

/** Peers remembered between queries, so a busy resolver's address is parsed once, not per query. */
const REMEMBERED_PEERS = 4096;

export class SourceFilter {
  private readonly networks: readonly Network[];
  /** Verdicts by peer address; cleared when full, so a flood of spoofed sources costs memory only up to this. */
  private readonly verdicts = new Map<string, boolean>();

  /** `networks` must have passed parseNetwork (the config loader checks them). */
  constructor(networks: readonly string[]) {
    this.networks = networks.map((text) => {
      const network = parseNetwork(text);
      if (typeof network === 'string') throw new RangeError(network);
      return network;
    });
  }

  /** Whether any source is refused at all: false for an empty list, so the hot path can skip the check. */
  get restricts(): boolean {
    return this.networks.length > 0;
  }

  allows(peer: string): boolean {
    if (this.networks.length === 0) return true;
    const known = this.verdicts.get(peer);
    if (known !== undefined) return known;
    const octets = peerOctets(peer);
    const verdict = octets !== undefined && this.networks.some((network) => containsAddress(network, octets));
    if (this.verdicts.size >= REMEMBERED_PEERS) this.verdicts.clear();
    this.verdicts.set(peer, verdict);
    return verdict;
  }
}
