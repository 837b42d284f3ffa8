import { hash53 } from '../lb/hash.js';

/**
 * Which live Konsul node runs a check: rendezvous (highest random weight) hashing of the check
 * id over the member names (Thaler & Ravishankar, 1998), with Konsul's own 53-bit hash from
 * src/lb. Every node computes the same owner from the same member list, with no coordination;
 * when a member leaves, only its own checks move (each to the member that scored second), and
 * a member joining takes about 1/n of the checks from the others.
 */
export class CheckOwnership {
  private members: readonly string[] = [];
  private isMember = false;

  constructor(readonly self: string) {}

  /** The live members (this node among them), or null while this node is not a member: it then owns nothing. */
  update(members: readonly string[] | null): void {
    this.isMember = members !== null && members.includes(this.self);
    this.members = members ?? [];
  }

  ownerOf(checkId: string): string | null {
    let owner: string | null = null;
    let best = -1;
    for (const member of this.members) {
      const score = hash53(`${checkId}\u0000${member}`);
      // Equal scores (vanishingly rare) go to the smaller name, so every node picks the same one.
      if (score > best || (score === best && owner !== null && member < owner)) {
        best = score;
        owner = member;
      }
    }
    return owner;
  }

  owns(checkId: string): boolean {
    return this.isMember && this.ownerOf(checkId) === this.self;
  }
}
