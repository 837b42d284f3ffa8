/**
 * The membership a hash table (ring, Maglev) is built from: the ids and effective weights
 * of every instance of a service, health and query filters aside. Tables are cached by
 * its signature, so a write that changes neither (a note, a meta edit, a health flip)
 * finds the table it already has; the catalog index plays no part.
 *
 * A Membership is computed once per candidate array (arrays are replaced, never mutated,
 * on every write), in O(n) over the ids.
 */
import type { Instance } from '../catalog/types.js';
import { hash53 } from './hash.js';
import type { TableEntry } from './table-store.js';

const TWO_POW_32 = 4294967296;
/** Rough heap cost of one member beyond its id's characters: array slots, two doubles, a Map entry. */
const BYTES_PER_MEMBER = 64;

export class Membership {
  readonly ids: readonly string[];
  /** Effective weights (see weights.ts): non-positive counts as 0; all zero counts as all 1. */
  readonly weights: Float64Array;
  /** hash53(id) per member: the rendezvous fallback combines it with the key's hash. */
  readonly idHashes: Float64Array;
  /** Identifies ids + weights; equal signatures are confirmed with sameAs() before a table is shared. */
  readonly signature: string;
  /** Estimated heap bytes, charged to the cache with every table built over this membership. */
  readonly bytes: number;
  /** Tables found for this membership, by table kind: spares a keyed cache lookup per query. */
  readonly tables = new Map<string, TableEntry>();
  private positions: Map<string, number> | undefined = undefined;

  constructor(members: readonly Instance[]) {
    const n = members.length;
    const ids = new Array<string>(n);
    const weights = new Float64Array(n);
    const idHashes = new Float64Array(n);
    let positive = 0;
    let characters = 0;
    for (let i = 0; i < n; i++) {
      const id = members[i].id;
      ids[i] = id;
      characters += id.length;
      idHashes[i] = hash53(id);
      const weight = members[i].weight;
      if (Number.isFinite(weight) && weight > 0) {
        weights[i] = weight;
        positive++;
      }
    }
    if (positive === 0) weights.fill(1);
    this.ids = ids;
    this.weights = weights;
    this.idHashes = idHashes;
    this.signature = signatureOf(idHashes, weights);
    this.bytes = 128 + n * BYTES_PER_MEMBER + characters * 2;
  }

  get size(): number {
    return this.ids.length;
  }

  /** Position of `id` among the members, or -1. */
  indexOf(id: string): number {
    let positions = this.positions;
    if (positions === undefined) {
      positions = new Map();
      for (let i = 0; i < this.ids.length; i++) positions.set(this.ids[i], i);
      this.positions = positions;
    }
    return positions.get(id) ?? -1;
  }

  /** Same ids and weights in the same order: a table built for one serves the other. */
  sameAs(other: Membership): boolean {
    if (other === this) return true;
    if (other.signature !== this.signature || other.ids.length !== this.ids.length) return false;
    for (let i = 0; i < this.ids.length; i++) {
      if (other.ids[i] !== this.ids[i] || other.weights[i] !== this.weights[i]) return false;
    }
    return true;
  }
}

/** Two 32-bit multiply-xor lanes over (id hash, weight) pairs, plus the count. Collisions are caught by sameAs(). */
function signatureOf(idHashes: Float64Array, weights: Float64Array): string {
  let a = 0x9e3779b9;
  let b = 0x85ebca6b;
  for (let i = 0; i < idHashes.length; i++) {
    const hash = idHashes[i];
    const weight = Math.round(weights[i] * 65536) | 0;
    a = Math.imul(a ^ (hash >>> 0), 0xcc9e2d51);
    a = Math.imul((a << 15) | (a >>> 17), 0x1b873593) ^ weight;
    b = Math.imul(b ^ ((hash / TWO_POW_32) | 0), 0x85ebca6b);
    b = Math.imul((b << 13) | (b >>> 19), 0xc2b2ae35) ^ a;
  }
  return `${idHashes.length}:${(a >>> 0).toString(36)}:${(b >>> 0).toString(36)}`;
}

const memberships = new WeakMap<readonly Instance[], Membership>();

/** The membership of a candidate array, computed on first use and kept as long as the array lives. */
export function membershipOf(members: readonly Instance[]): Membership {
  let membership = memberships.get(members);
  if (membership === undefined) {
    membership = new Membership(members);
    memberships.set(members, membership);
  }
  return membership;
}
