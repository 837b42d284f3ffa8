import t from 'tap';
import { Slots } from '../src/health/slots.js';

t.test('runs at most limit jobs at once and starts waiting ones in arrival order', async (t) => {
  const started: number[] = [];
  const slots = new Slots<number>(2, (job) => {
    started.push(job);
    return true;
  });
  for (const job of [1, 2, 3, 4, 5]) slots.submit(job);
  t.same(started, [1, 2]);
  t.equal(slots.busy, 2);
  t.equal(slots.queued, 3);
  slots.release();
  t.same(started, [1, 2, 3]);
  slots.release();
  slots.release();
  t.same(started, [1, 2, 3, 4, 5]);
  t.equal(slots.queued, 0);
  slots.release();
  slots.release();
  t.equal(slots.busy, 0);
});

t.test('a job that declines its turn gives the slot to the next one', async (t) => {
  const started: string[] = [];
  const slots = new Slots<string>(1, (job) => {
    if (job.startsWith('gone')) return false;
    started.push(job);
    return true;
  });
  slots.submit('a');
  slots.submit('gone-1');
  slots.submit('gone-2');
  slots.submit('b');
  slots.release();
  t.same(started, ['a', 'b']);
  t.equal(slots.busy, 1);
  t.equal(slots.queued, 0);
  slots.submit('gone-3');
  t.equal(slots.queued, 1);
  slots.release();
  t.equal(slots.busy, 0, 'a declined job does not keep the slot');
  slots.submit('c');
  t.same(started, ['a', 'b', 'c']);
});

t.test('clear() drops waiting jobs; running ones still release', async (t) => {
  const started: number[] = [];
  const slots = new Slots<number>(1, (job) => {
    started.push(job);
    return true;
  });
  slots.submit(1);
  slots.submit(2);
  slots.clear();
  slots.release();
  t.same(started, [1]);
  t.equal(slots.busy, 0);
});

t.test('a long queue drains in order', async (t) => {
  const started: number[] = [];
  const slots = new Slots<number>(3, (job) => {
    started.push(job);
    return true;
  });
  for (let job = 0; job < 5000; job++) slots.submit(job);
  while (slots.busy > 0) slots.release();
  t.equal(started.length, 5000);
  t.ok(started.every((job, index) => job === index));
});
