import { readFileSync } from 'node:fs';
import t from 'tap';
import { ClientErrors } from '../src/client/errors.js';

t.test('docs/client.md lists every error code of the client, and no other', async (t) => {
  const doc = readFileSync(new URL('../docs/client.md', import.meta.url), 'utf8');
  const section = doc.slice(doc.indexOf('## Errors'), doc.indexOf('\n## ', doc.indexOf('## Errors') + 1));
  const documented = [...section.matchAll(/^\|\s*`([a-z_]+)`\s*\|/gm)].map((match) => match[1]).sort();
  const defined = Object.entries(ClientErrors)
    .map(([name, factory]) => ('code' in factory ? factory.code : name === 'konsulRefused' ? 'konsul_refused' : name))
    .sort();
  t.same(documented, defined);
});
