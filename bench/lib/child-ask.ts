import type { ChildProcess } from 'node:child_process';

/**
 * Sends `question` to a probe loaded into `child` (stall-probe.ts, heap-probe.ts) over its IPC
 * channel and resolves with the first message `answer` recognises. One question at a time: the
 * benches ask in sequence, so the first matching message is this question's reply.
 */
export function askChild<T>(
  child: ChildProcess,
  question: object,
  answer: (message: unknown) => T | undefined,
  probe: string,
): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: unknown): void => {
      const value = answer(message);
      if (value === undefined) return;
      child.off('message', onMessage);
      resolve(value);
    };
    child.on('message', onMessage);
    if (!child.send(question)) {
      child.off('message', onMessage);
      reject(new Error(`the ${probe} cannot be reached`));
    }
  });
}
