/**
 * Hardening, crash durability: round after round on one data directory, start the command,
 * check that every registration acknowledged in any earlier round is there, burst new ones over
 * several connections and SIGKILL the process in the middle of the burst. An acknowledged write
 * is durable (docs/api.md), so across all rounds not one may be lost.
 *
 * The command runs from a bundle of src/main.ts (bundleKonsulCommand): 21 starts through the
 * tsx loader would take 40–100 s on a busy 2-core machine; the bundle takes 1–2 s per start.
 * Even so, 21 starts on a 2-core machine shared with another test file can pass tap's default
 * 120 s, so this file allows itself 180 s (about 40 s when it runs alone).
 */
import t from 'tap';
import { tempDir } from '../helpers/catalog.js';
import { bundleKonsulCommand, httpCall, startKonsulChild } from '../helpers/fault-targets.js';
import { seeded } from '../helpers/seeded.js';

const ROUNDS = 20;
const WRITERS = 6;
const SEED = 0xc4a54;

t.setTimeout(180_000);

t.test(`${ROUNDS} rounds of SIGKILL mid-burst lose no acknowledged registration (seed ${SEED})`, async (t) => {
  const argv = await bundleKonsulCommand(t);
  const dataDir = tempDir(t);
  const rng = seeded(SEED);
  const acknowledged = new Set<string>();
  let unacknowledged = 0;
  let lost: string[] = [];

  const verify = async (port: number, round: number) => {
    const answer = await httpCall(port, 'GET', '/catalog/services/crash?health-filter=false');
    const present = new Set((JSON.parse(answer.body) as { id: string }[]).map((instance) => instance.id));
    lost = [...acknowledged].filter((id) => !present.has(id));
    t.same(lost, [], `round ${round}: all ${acknowledged.size} registrations acknowledged so far are there`);
  };

  for (let round = 1; round <= ROUNDS; round++) {
    const konsul = await startKonsulChild(t, { KONSUL_DATA_DIR: dataDir }, { argv });
    await verify(konsul.port, round);
    if (lost.length > 0) break;
    // Kill after a random number of acknowledgements, so the kill lands at a different point of
    // the group-commit cycle each round.
    const killAfter = acknowledged.size + rng.between(10, 60);
    let killed = false;
    // Every writer reads it after its awaits, when another writer may have set it.
    const killedYet = (): boolean => killed;
    let sequence = 0;
    const writer = async (slot: number) => {
      for (let n = 0; n < 2000 && !killedYet(); n++) {
        const id = `r${round}-w${slot}-${sequence++}`;
        try {
          const answer = await httpCall(
            konsul.port,
            'PUT',
            '/catalog/register',
            {
              id,
              name: 'crash',
              address: `10.4.${round}.${slot}`,
              port: 1 + (sequence % 60000),
              tags: [`round-${round}`],
            },
            { timeoutMs: 5000 },
          );
          if (answer.status === 200) acknowledged.add(id);
          else unacknowledged++;
        } catch {
          unacknowledged++;
          return; // the process is gone: whatever was in flight was never acknowledged
        }
        if (!killedYet() && acknowledged.size >= killAfter) {
          killed = true;
          konsul.child.kill('SIGKILL');
        }
      }
    };
    await Promise.all(Array.from({ length: WRITERS }, (_, slot) => writer(slot)));
    if (!killedYet()) konsul.child.kill('SIGKILL');
    t.match(
      await konsul.exited,
      { signal: 'SIGKILL' },
      `round ${round}: killed after ${acknowledged.size} acknowledgements in all`,
    );
  }

  if (lost.length === 0) {
    const last = await startKonsulChild(t, { KONSUL_DATA_DIR: dataDir }, { argv });
    await verify(last.port, ROUNDS + 1);
    last.child.kill('SIGTERM');
    t.match(await last.exited, { code: 0 });
  }
  t.ok(
    acknowledged.size >= ROUNDS * 10,
    `${acknowledged.size} acknowledged and ${unacknowledged} cut off by kills, over ${ROUNDS} rounds`,
  );
});
