import t from 'tap';
import { readFileSync } from 'node:fs';
import { ENV_OVERRIDES } from '../src/config/load.js';
import { Errors } from '../src/errors.js';

// The docs are part of the interface: clients and operators are written against them, so a test
// holds them to the code the way Fastify's tests hold its error docs to lib/errors.js.
const root = new URL('../', import.meta.url);
const read = (path: string): string => readFileSync(new URL(path, root), 'utf8');

/** The rows of the first Markdown table after `heading`, as arrays of trimmed cells (header and rule dropped). */
function tableAfter(markdown: string, heading: string): string[][] {
  const start = markdown.indexOf(heading);
  if (start < 0) throw new Error(`no heading "${heading}"`);
  const lines = markdown.slice(start + heading.length).split('\n');
  const first = lines.findIndex((line) => line.startsWith('|'));
  const rows: string[][] = [];
  for (const line of lines.slice(first + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .slice(1, -1)
        .split(' | ')
        .map((cell) => cell.trim()),
    );
  }
  return rows;
}

const unquote = (cell: string): string => cell.replace(/^`|`$/g, '');

t.test('docs/api.md lists every error code with its status, and no other', async (t) => {
  const documented = new Map(
    tableAfter(read('docs/api.md'), '## Error codes').map(([code = '', status = '']) => [
      unquote(code),
      Number(status),
    ]),
  );
  const defined = new Map(Object.values(Errors).map((error) => [error.code, error.statusCode]));
  for (const [code, status] of defined) t.equal(documented.get(code), status, `${code} is documented as ${status}`);
  for (const code of documented.keys()) t.ok(defined.has(code), `${code} in docs/api.md is defined in src/errors.ts`);
});

/** Every leaf of the defaults file as a dotted path; empty objects and arrays are leaves. */
function leafKeys(value: unknown, prefix: string[] = []): string[][] {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || Object.keys(value).length === 0)
    return [prefix];
  return Object.entries(value).flatMap(([key, child]) => leafKeys(child, [...prefix, key]));
}

t.test('docs/configuration.md documents every key of konsul.config.json in its section', async (t) => {
  const docs = read('docs/configuration.md');
  const defaults: unknown = JSON.parse(read('konsul.config.json'));
  const keys = leafKeys(defaults);
  t.ok(keys.length > 20, 'the defaults file has keys');
  for (const [section = '', ...rest] of keys) {
    const rows = tableAfter(docs, `### \`${section}\``);
    const key = rest.join('.');
    t.ok(
      rows.some(([cell = '']) => unquote(cell) === key),
      `${section}.${key} has a row in the ${section} table`,
    );
  }
});

t.test('docs/configuration.md lists every KONSUL_* variable and the key it sets', async (t) => {
  const rows = new Map(
    tableAfter(read('docs/configuration.md'), '## Environment variables').map(([variable = '', key = '']) => [
      unquote(variable),
      unquote(key),
    ]),
  );
  for (const [variable, path] of ENV_OVERRIDES) t.equal(rows.get(variable), path.join('.'), variable);
  t.ok(rows.has('KONSUL_CONFIG'), 'KONSUL_CONFIG');
});

t.test('the README names every KONSUL_* variable', async (t) => {
  const readme = read('README.md');
  for (const [variable] of ENV_OVERRIDES) t.ok(readme.includes(`\`${variable}\``), variable);
});
