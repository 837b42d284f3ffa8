import t from 'tap';
import { CheckOwnership } from '../src/health/ownership.js';

const checkIds = Array.from({ length: 3000 }, (_, i) => `check-${i}`);

function ownersOf(members: readonly string[]): Map<string, string> {
  const ownership = new CheckOwnership('any');
  ownership.update(members);
  return new Map(checkIds.map((id) => [id, ownership.ownerOf(id)!]));
}

t.test('every node computes the same owner, whatever order it lists the members in', async (t) => {
  const one = ownersOf(['a', 'b', 'c']);
  const other = ownersOf(['c', 'a', 'b']);
  t.same([...one], [...other]);
});

t.test('the checks are shared about evenly', async (t) => {
  const counts = new Map<string, number>();
  for (const owner of ownersOf(['a', 'b', 'c', 'd']).values()) counts.set(owner, (counts.get(owner) ?? 0) + 1);
  t.equal(counts.size, 4);
  // 750 expected each; 5 standard deviations (about 120) of a binomial is far from any hash defect.
  for (const [member, count] of counts) t.ok(Math.abs(count - 750) < 120, `${member} owns ${count} of 3000`);
});

t.test('a member leaving moves only its own checks; one joining takes only from the others', async (t) => {
  const before = ownersOf(['a', 'b', 'c']);
  const after = ownersOf(['a', 'c']);
  for (const [id, owner] of before) if (owner !== 'b') t.equal(after.get(id), owner, `${id} stays with ${owner}`);
  const joined = ownersOf(['a', 'b', 'c', 'd']);
  let moved = 0;
  for (const [id, owner] of joined) {
    if (owner === before.get(id)) continue;
    moved++;
    t.equal(owner, 'd', `${id} moves only to the new member`);
  }
  t.ok(moved > 600 && moved < 900, `about a quarter move (${moved})`);
});

t.test('a node owns nothing while it is not a live member', async (t) => {
  const ownership = new CheckOwnership('b');
  ownership.update(['a', 'b']);
  const owned = checkIds.filter((id) => ownership.owns(id)).length;
  t.ok(owned > 0 && owned < checkIds.length, 'b owns a share while a member');
  ownership.update(null);
  t.equal(checkIds.filter((id) => ownership.owns(id)).length, 0, 'nothing once it is not a member');
  ownership.update(['a', 'c']);
  t.equal(checkIds.filter((id) => ownership.owns(id)).length, 0, 'nor when the list does not name it');
  t.equal(new CheckOwnership('x').ownerOf('check-1'), null, 'no members, no owner');
});
