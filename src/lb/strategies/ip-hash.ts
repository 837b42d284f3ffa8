/**
 * ip-hash: the client's IP address placed on the consistent-hash ring that ring-hash
 * uses (same ring, same cache entry). Unlike nginx's ip_hash (modulo over the peer list),
 * removing one of n instances moves only the clients that were on it, and weights
 * apply. The fallback order walks the ring clockwise. The HTTP face always passes an
 * address; a caller without one gets the base order (by id), deterministically.
 * O(log P + k) for a ring of P points.
 */
import type { Instance } from '../../catalog/types.js';
import { hash53 } from '../hash.js';
import { RING, ringSlot } from '../ring.js';
import type { Strategy, StrategyContext } from '../types.js';
import { DistinctWalker } from '../walk.js';

export class IpHashStrategy implements Strategy {
  readonly name = 'ip-hash';
  readonly keyedByClient = true;
  private readonly walker = new DistinctWalker();

  order(instances: readonly Instance[], ctx: StrategyContext): Instance[] {
    const clientIp = ctx.clientIp;
    if (clientIp === undefined || clientIp === '') return instances.slice(0, ctx.limit);
    const keyHash = hash53(clientIp);
    const found = ctx.table(RING);
    if (found === undefined) return ctx.rendezvous(keyHash);
    const ring = found.table;
    return this.walker.walk(ring.owners, ringSlot(ring, keyHash), found.toSelected, instances, ctx.limit);
  }
}
