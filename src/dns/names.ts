/**
 * What a query name means in Konsul's zone (`<domain>`, default `konsul`):
 *
 *   <domain>                              the apex: SOA and NS
 *   ns.<domain>                           the name server named by NS and SOA
 *   <service>.service.<domain>            a service's instances
 *   <tag>.<service>.service.<domain>      the same, only instances carrying <tag>
 *   _<service>._<tag>.service.<domain>    RFC 2782 form; _tcp and _udp mean "no tag filter"
 *   <hex-ip>.addr.<domain>                an address: 8 hex digits (IPv4) or 32 (IPv6)
 *   service.<domain>, addr.<domain>       empty non-terminals: they exist, with no records (RFC 8020)
 *
 * Everything else under <domain> does not exist (NXDOMAIN); names outside it are refused.
 */
import { parseAddressLabel } from './address.js';
import { decodeLabels, HEADER_SIZE, nameKey } from './wire.js';

export type Route =
  | { readonly kind: 'apex' }
  | { readonly kind: 'ns' }
  | { readonly kind: 'empty' }
  | { readonly kind: 'service'; readonly service: string; readonly tag: string | undefined; readonly cacheKey: string }
  | { readonly kind: 'addr'; readonly octets: Buffer }
  | { readonly kind: 'nxdomain' }
  | { readonly kind: 'outside' };

const APEX: Route = { kind: 'apex' };
const NS: Route = { kind: 'ns' };
const EMPTY: Route = { kind: 'empty' };
const NXDOMAIN: Route = { kind: 'nxdomain' };
const OUTSIDE: Route = { kind: 'outside' };

/** RFC 2782 protocol labels: they name the transport, not a tag. */
const PROTOCOL_LABELS: ReadonlySet<string> = new Set(['tcp', 'udp']);

export function routeLabels(labels: readonly string[], domainLabels: readonly string[]): Route {
  const inside = labels.length - domainLabels.length;
  if (inside < 0) return OUTSIDE;
  for (let i = 0; i < domainLabels.length; i++) if (labels[inside + i] !== domainLabels[i]) return OUTSIDE;
  if (inside === 0) return APEX;
  const kind = labels[inside - 1];
  if (inside === 1) {
    if (kind === 'ns') return NS;
    return kind === 'service' || kind === 'addr' ? EMPTY : NXDOMAIN;
  }
  if (kind === 'addr') {
    const octets = inside === 2 ? parseAddressLabel(labels[0]) : undefined;
    return octets === undefined ? NXDOMAIN : { kind: 'addr', octets };
  }
  if (kind !== 'service') return NXDOMAIN;
  if (inside === 2) return labels[0].startsWith('_') ? NXDOMAIN : serviceRoute(labels[0], undefined);
  if (inside !== 3) return NXDOMAIN;
  const [first, second] = labels;
  const firstRfc = first.startsWith('_');
  const secondRfc = second.startsWith('_');
  if (firstRfc && secondRfc) {
    const service = first.slice(1);
    const protocol = second.slice(1);
    if (service === '' || protocol === '') return NXDOMAIN;
    return serviceRoute(service, PROTOCOL_LABELS.has(protocol) ? undefined : protocol);
  }
  if (firstRfc || secondRfc) return NXDOMAIN;
  return serviceRoute(second, first);
}

function serviceRoute(service: string, tag: string | undefined): Route {
  // Labels may hold any byte, so no separator is safe: a tagged key starts with the service's
  // length (a digit) and marks the tag's start with it, an untagged key starts with '='.
  return {
    kind: 'service',
    service,
    tag,
    cacheKey: tag === undefined ? `=${service}` : `${service.length}:${service}${tag}`,
  };
}

/**
 * Routes query names, remembering the answer per case-folded wire name so repeated queries
 * skip the label split. Bounded: a flood of distinct names only clears the memo.
 */
export class NameRouter {
  private readonly domainLabels: readonly string[];
  private readonly memo = new Map<string, Route>();
  /** The previous question name's bytes as sent (at most 255), and its route. */
  private lastName: Buffer = Buffer.alloc(0);
  private lastRoute: Route = OUTSIDE;

  constructor(
    domain: string,
    private readonly capacity = 4096,
  ) {
    this.domainLabels = domain
      .toLowerCase()
      .split('.')
      .filter((label) => label !== '');
  }

  /** The route of the question name, which occupies [HEADER_SIZE, nameEnd) of `message`. */
  route(message: Buffer, nameEnd: number): Route {
    // Most queries repeat the previous name byte for byte (a client asking for one service):
    // comparing the bytes in place allocates nothing, where the key below is a new string.
    if (sameBytes(this.lastName, message, HEADER_SIZE, nameEnd)) return this.lastRoute;
    const key = nameKey(message, HEADER_SIZE, nameEnd);
    let route = this.memo.get(key);
    if (route === undefined) {
      route = routeLabels(decodeLabels(message, HEADER_SIZE, nameEnd), this.domainLabels);
      if (this.memo.size >= this.capacity) this.memo.clear();
      this.memo.set(key, route);
    }
    this.lastName = Buffer.from(message.subarray(HEADER_SIZE, nameEnd));
    this.lastRoute = route;
    return route;
  }
}

/** Whether `message[start, end)` holds exactly `bytes`; a loop beats Buffer#compare's native call for a name's few dozen bytes. */
function sameBytes(bytes: Buffer, message: Buffer, start: number, end: number): boolean {
  if (bytes.length !== end - start) return false;
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== message[start + i]) return false;
  return true;
}
