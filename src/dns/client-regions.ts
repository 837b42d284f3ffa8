/**
 * `dns.clientRegions`: which region a DNS client is in, from the network its address (or its
 * EDNS Client Subnet, RFC 7871) falls in, so `latency-based` can order answers nearest-first
 * (the region latency table is `lb.latency`). The longest matching prefix wins, as in routing.
 */
import { peerOctets } from './address.js';
import { containsAddress, parseNetwork, type Network } from './allow-from.js';

export interface ClientRegionRule {
  cidr: string;
  region: string;
}

/** Addresses remembered between queries; cleared when full, so a flood of sources is bounded. */
const REMEMBERED = 4096;

export class ClientRegions {
  /** Longest prefix first, so the first match is the most specific. */
  private readonly rules: readonly { network: Network; region: string }[];
  private readonly remembered = new Map<string, string | null>();

  /** Rules must have passed parseNetwork (the config loader checks them). */
  constructor(rules: readonly ClientRegionRule[]) {
    this.rules = rules
      .map(({ cidr, region }) => {
        const network = parseNetwork(cidr);
        if (typeof network === 'string') throw new RangeError(network);
        return { network, region };
      })
      .sort((a, b) => b.network.prefix - a.network.prefix);
  }

  get empty(): boolean {
    return this.rules.length === 0;
  }

  /** The region of `address`, or undefined when no rule covers it. */
  regionOf(address: string): string | undefined {
    if (this.rules.length === 0) return undefined;
    const known = this.remembered.get(address);
    if (known !== undefined) return known ?? undefined;
    const octets = peerOctets(address);
    const rule = octets === undefined ? undefined : this.rules.find(({ network }) => containsAddress(network, octets));
    if (this.remembered.size >= REMEMBERED) this.remembered.clear();
    this.remembered.set(address, rule?.region ?? null);
    return rule?.region;
  }
}
