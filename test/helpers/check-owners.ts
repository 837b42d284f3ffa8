import { CheckOwnership } from '../../src/health/ownership.js';

/** Who the hashing picks among `members` for `checkId`, computed as every node does. */
export function ownerAmong(members: readonly string[], checkId: string): string {
  const ownership = new CheckOwnership('test');
  ownership.update(members);
  return ownership.ownerOf(checkId)!;
}

/** The first `<prefix>-<n>` check id that `member` owns among `members`. */
export function idOwnedBy(member: string, members: readonly string[], prefix: string): string {
  for (let n = 0; ; n++) if (ownerAmong(members, `${prefix}-${n}`) === member) return `${prefix}-${n}`;
}
