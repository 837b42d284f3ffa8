import { useEffect, useState } from 'preact/hooks';
import { get } from '../api.js';

/** Membership changes move no catalog index, so in a cluster the owners are read again this often. */
const REFRESH_MS = 3000;

interface OwnersAnswer {
  owners: { checkId: string; node: string | null }[] | null;
}

/**
 * Which node runs each of the service's checks, from the server's own placement: read when the
 * service changes (`version`) and every few seconds while the page shows, only in cluster mode.
 * Null while the server runs alone or before the first answer.
 */
export function useCheckOwners(name: string, clustered: boolean, version: number): Map<string, string | null> | null {
  const [owners, setOwners] = useState<Map<string, string | null> | null>(null);
  useEffect(() => {
    if (!clustered) return undefined;
    const abort = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const load = async () => {
      try {
        const answer = await get<OwnersAnswer>(`/ui/api/services/${name}/owners`, abort.signal);
        setOwners(answer.owners === null ? null : new Map(answer.owners.map((owner) => [owner.checkId, owner.node])));
      } catch {
        // The page keeps the owners it had; the tab's stream reports a server that went away.
      }
      if (!abort.signal.aborted) timer = setTimeout(() => void load(), REFRESH_MS);
    };
    void load();
    return () => {
      abort.abort();
      clearTimeout(timer);
    };
  }, [name, clustered, version]);
  return owners;
}
