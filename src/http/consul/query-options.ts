import { ConsulHttpError } from './errors.js';
import type { ConsulNode } from './node.js';
import type { ConsulServiceQuery } from './schemas.js';

/** The query parameters every Consul client may send, as the schemas in schemas.ts let them through. */
export interface ConsulCommonQuery {
  dc?: string;
  ns?: string;
  partition?: string;
  peer?: string;
  filter?: string;
  stale?: string;
  consistent?: string;
}

/**
 * Refuses the options Konsul cannot honour instead of silently answering something else, with
 * Consul's own status and text where Consul has one. `stale`, `consistent`, `cached`, `leader`
 * and `near` need no refusal: one server reading its live view is all of them at once.
 */
export function checkQueryOptions(query: ConsulCommonQuery, node: ConsulNode): void {
  if (query.stale !== undefined && query.consistent !== undefined) {
    throw ConsulHttpError.badRequest('Cannot specify ?stale with ?consistent, conflicting semantics.');
  }
  // What Consul answers for a datacenter it has no route to (structs.ErrNoDCPath).
  if (query.dc !== undefined && query.dc !== '' && query.dc !== node.datacenter)
    throw new ConsulHttpError(500, 'No path to datacenter');
  if (query.ns !== undefined && query.ns !== '' && query.ns !== 'default') {
    throw ConsulHttpError.badRequest(
      'Invalid query parameter: "ns" - Namespaces are a Consul Enterprise feature; Konsul has one namespace, "default"',
    );
  }
  if (query.partition !== undefined && query.partition !== '' && query.partition !== 'default') {
    throw ConsulHttpError.badRequest(
      'Invalid query parameter: "partition" - Partitions are a Consul Enterprise feature; Konsul has one partition, "default"',
    );
  }
  if (query.peer !== undefined && query.peer !== '')
    throw ConsulHttpError.badRequest('Invalid query parameter: "peer" - Konsul has no cluster peering');
  if (query.filter !== undefined && query.filter !== '') {
    throw ConsulHttpError.badRequest(
      'Invalid query parameter: "filter" - Konsul does not evaluate filter expressions; use tag and passing',
    );
  }
}

/** Go's strconv.ParseBool, with the bare `?passing` Consul reads as true. The schema has checked the form. */
export function parseBool(value: string | undefined): boolean {
  if (value === undefined) return false;
  return value === '' || value === '1' || value.toLowerCase() === 'true' || value === 't' || value === 'T';
}

/** True when the query asks for Konsul's load balancing; without it the answer keeps Consul's order. */
export function wantsLoadBalancing(query: ConsulServiceQuery): boolean {
  return (
    query.lb !== undefined ||
    query.limit !== undefined ||
    query['client-ip'] !== undefined ||
    query['session-key'] !== undefined ||
    query['client-region'] !== undefined
  );
}

/**
 * Consul filters on node metadata. Konsul's one node has none, so any node-meta filter matches
 * nothing, exactly as it would on a Consul node without that key.
 */
export function excludesKonsulNode(query: { 'node-meta'?: readonly string[] }): boolean {
  return query['node-meta'] !== undefined && query['node-meta'].length > 0;
}
