/**
 * ring-hash: consistent hashing with virtual nodes (Karger et al., STOC 1997), keyed by
 * the session key: the first instance is the owner of the first ring point clockwise
 * from hash(sessionKey); the rest follow in the order the walk meets them. See ring.ts
 * for the ring itself. O(log P + k) per query for a ring of P points; the ring is built
 * once per service membership and shared by its filters (see table-store.ts). Until a
 * service's first ring is ready the order comes from rendezvous hashing.
 */
import { Type } from 'typebox';
import type { Instance } from '../../catalog/types.js';
import { Errors } from '../../errors.js';
import { hash53 } from '../hash.js';
import { MAX_RING_SIZE, RING, ringSlot } from '../ring.js';
import type { Strategy, StrategyContext } from '../types.js';
import { DistinctWalker } from '../walk.js';

/** ring-hash's own config block, `lb.ringHash`: the config schema collects it (strategy-configs.ts). */
export const ringHashConfig = {
  key: 'ringHash',
  schema: Type.Object(
    {
      pointsPerWeight: Type.Integer({ minimum: 1, maximum: 10_000 }),
      minRingSize: Type.Integer({ minimum: 1, maximum: 10_000_000 }),
      maxRingSize: Type.Integer({ minimum: 1, maximum: MAX_RING_SIZE }),
    },
    { additionalProperties: false },
  ),
} as const;

export class RingHashStrategy implements Strategy {
  readonly name = 'ring-hash';
  readonly keyedByClient = true;
  private readonly walker = new DistinctWalker();

  validate(ctx: StrategyContext): void {
    if (ctx.sessionKey === undefined || ctx.sessionKey === '') throw Errors.missingSessionKey(this.name);
  }

  order(instances: readonly Instance[], ctx: StrategyContext): Instance[] {
    const keyHash = hash53(ctx.sessionKey!);
    const found = ctx.table(RING);
    if (found === undefined) return ctx.rendezvous(keyHash);
    const ring = found.table;
    return this.walker.walk(ring.owners, ringSlot(ring, keyHash), found.toSelected, instances, ctx.limit);
  }
}
