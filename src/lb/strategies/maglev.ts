/**
 * maglev: Maglev consistent hashing (Eisenbud et al., NSDI 2016, §3.4), keyed by the
 * session key: the first instance owns table[hash(sessionKey) mod M]. Positions 2..k
 * probe the following slots (slot + 1, + 2, … mod M) and take each instance the first
 * time it appears — deterministic, and since the table is shared by every key, as
 * stable across membership changes as the table itself. See maglev-table.ts.
 * O(1) for the first instance, O(k) expected for the rest; the table is built once per
 * service membership, in slices off the request path (see table-store.ts). Until a
 * service's first table is ready the order comes from rendezvous hashing.
 */
import { Type, type Static } from 'typebox';
import type { Instance } from '../../catalog/types.js';
import { Errors } from '../../errors.js';
import { hash53 } from '../hash.js';
import { isPrime, MAGLEV_TABLE } from '../maglev-table.js';
import type { Strategy, StrategyContext } from '../types.js';
import { DistinctWalker } from '../walk.js';

const MaglevConfigSchema = Type.Object(
  { tableSize: Type.Integer({ minimum: 7, maximum: 5_000_011 }) },
  { additionalProperties: false },
);

/** Maglev's own config block, `lb.maglev`: the config schema collects it (strategy-configs.ts). */
export const maglevConfig = {
  key: 'maglev',
  schema: MaglevConfigSchema,
  /** NSDI §3.4: the permutation covers every slot only when the table size is prime. */
  problem: (block: Static<typeof MaglevConfigSchema>): string | undefined =>
    isPrime(block.tableSize) ? undefined : `tableSize must be prime, got ${block.tableSize}`,
} as const;

export class MaglevStrategy implements Strategy {
  readonly name = 'maglev';
  readonly keyedByClient = true;
  private readonly walker = new DistinctWalker();

  validate(ctx: StrategyContext): void {
    if (ctx.sessionKey === undefined || ctx.sessionKey === '') throw Errors.missingSessionKey(this.name);
  }

  order(instances: readonly Instance[], ctx: StrategyContext): Instance[] {
    const keyHash = hash53(ctx.sessionKey!);
    const found = ctx.table(MAGLEV_TABLE);
    if (found === undefined) return ctx.rendezvous(keyHash);
    const owners = found.table.owners;
    return this.walker.walk(owners, keyHash % owners.length, found.toSelected, instances, ctx.limit);
  }
}
