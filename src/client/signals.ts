/**
 * Deregistering on SIGTERM and SIGINT. A listener on a signal stops Node's default action
 * (exit), so once the handler is done the listener is removed and, when nothing else listens,
 * the signal is raised again: the process ends as it would have without the client.
 */
const SIGNALS = ['SIGTERM', 'SIGINT'] as const;

/** Runs `handler` on the first SIGTERM or SIGINT; returns the function that removes the listeners. */
export function onTermination(handler: () => Promise<void>): () => void {
  const listener = (signal: NodeJS.Signals): void => {
    remove();
    void handler()
      .catch(() => undefined)
      .finally(() => {
        if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
      });
  };
  const remove = (): void => {
    for (const signal of SIGNALS) process.off(signal, listener);
  };
  for (const signal of SIGNALS) process.on(signal, listener);
  return remove;
}
