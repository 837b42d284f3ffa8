/**
 * Canary splits by tag (Envoy's weighted clusters, nginx's split_clients): a service's config
 * names subsets by tag with weights, and the first positions of each answer go to one subset in
 * that proportion. The strategy orders the whole healthy list as usual; the split then moves the
 * chosen subset to the front, keeping the strategy's order inside each subset, so health, panic,
 * maintenance and every strategy's own rules apply unchanged.
 *
 * With a session key the side is a hash of the key, not a draw: the same user stays on the same
 * side on every query and on every node (nginx split_clients hashes the same way).
 */
import type { Instance } from '../catalog/types.js';
import { hash53 } from './hash.js';

export interface SplitSide {
  readonly tag: string;
  /** Relative share of first positions; 0 keeps the subset out of first place (unless nothing else is left). */
  readonly weight: number;
}

const TWO_POW_53 = 2 ** 53;
/** Salts the session key, so the split side is not correlated with the key's ring position. */
const SPLIT_SEED = 0x5b1e;

/** The side (index into `split`) this query's first positions go to. */
export function chooseSide(split: readonly SplitSide[], sessionKey: string | undefined, random: () => number): number {
  let total = 0;
  for (const side of split) total += side.weight;
  if (total <= 0) return 0;
  const point = (sessionKey === undefined ? random() : hash53(sessionKey, SPLIT_SEED) / TWO_POW_53) * total;
  let upTo = 0;
  for (let i = 0; i < split.length; i++) {
    upTo += split[i].weight;
    if (point < upTo) return i;
  }
  return split.length - 1;
}

/**
 * `ordered` (a full order) regrouped: the chosen side's instances first, then the other sides in
 * config order, then instances that carry none of the tags; each group keeps its order. An
 * instance belongs to the first side whose tag it carries. At most `limit` (0 = all).
 */
export function splitOrder(
  ordered: readonly Instance[],
  split: readonly SplitSide[],
  chosen: number,
  limit: number,
): Instance[] {
  const groups: Instance[][] = Array.from({ length: split.length + 1 }, () => []);
  for (const instance of ordered) groups[sideOf(instance, split)].push(instance);
  const out = groups[chosen];
  for (let i = 0; i < groups.length; i++) if (i !== chosen) out.push(...groups[i]);
  if (limit > 0 && out.length > limit) out.length = limit;
  return out;
}

function sideOf(instance: Instance, split: readonly SplitSide[]): number {
  for (let i = 0; i < split.length; i++) if (instance.tags.includes(split[i].tag)) return i;
  return split.length;
}
