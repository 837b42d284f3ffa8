import { readFileSync } from 'node:fs';
import t from 'tap';
import { CLIENT_LB_CONFIG } from '../src/client/lb-config.js';

t.test(
  "the client's strategies run with the server's defaults, so sticky keys land where the server's would",
  async (t) => {
    const serverDefaults = (
      JSON.parse(readFileSync(new URL('../konsul.config.json', import.meta.url), 'utf8')) as {
        lb: Record<string, unknown>;
      }
    ).lb;
    const { cacheBytes, buildSliceWork, ...client } = CLIENT_LB_CONFIG;
    const { cacheBytes: _bytes, buildSliceWork: _slice, ...server } = serverDefaults;
    t.same(client, server);
    t.ok(cacheBytes < (serverDefaults.cacheBytes as number), 'a smaller cache: a client balances a few services');
    t.equal(buildSliceWork, 100_000_000, 'tables built inline, when the list changes');
  },
);
