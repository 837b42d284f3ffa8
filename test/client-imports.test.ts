/**
 * konsul/client must not carry the server: it may use src/lb (pure) and a few shared leaf
 * modules, and types from the catalog; nothing from Fastify, SQLite, DNS or the faces. This
 * walks the real import graph with the TypeScript parser, following only the imports that
 * stay at run time (`import type` is erased; under verbatimModuleSyntax nothing else is).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import ts from 'typescript';

const REPO = fileURLToPath(new URL('../', import.meta.url));
const CLIENT = join(REPO, 'src', 'client');

/** Modules the client's run-time graph may reach, as repo-relative paths or prefixes. */
const RUNTIME_ALLOWED = ['src/client/', 'src/lb/', 'src/errors.ts', 'src/clock.ts', 'src/duration.ts'];
/** Packages and built-ins it may reach: typebox through the strategies' config schemas. */
const PACKAGES_ALLOWED = new Set(['typebox', 'node:events', 'node:perf_hooks']);
/** Types the client's own files may import from outside src/client and src/lb. */
const TYPES_ALLOWED = new Set(['src/catalog/types.ts', 'src/clock.ts']);

interface Edge {
  from: string;
  specifier: string;
  typeOnly: boolean;
}

function importsOf(file: string): Edge[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.ES2022, true);
  const edges: Edge[] = [];
  const from = relative(REPO, file);
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) && ts.isStringLiteral(node.moduleSpecifier)) {
      edges.push({ from, specifier: node.moduleSpecifier.text, typeOnly: node.importClause?.isTypeOnly === true });
    } else if (
      ts.isExportDeclaration(node) &&
      node.moduleSpecifier !== undefined &&
      ts.isStringLiteral(node.moduleSpecifier)
    ) {
      edges.push({ from, specifier: node.moduleSpecifier.text, typeOnly: node.isTypeOnly });
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      const argument = node.arguments[0];
      edges.push({ from, specifier: ts.isStringLiteral(argument) ? argument.text : '<dynamic>', typeOnly: false });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return edges;
}

/** A relative specifier's repo path (`.js` written for the `.ts` source), or the bare specifier. */
function target(edge: Edge): string {
  if (!edge.specifier.startsWith('.')) return edge.specifier;
  const absolute = resolve(REPO, dirname(edge.from), edge.specifier).replace(/\.js$/, '.ts');
  return relative(REPO, absolute);
}

function runtimeGraph(roots: string[]): { modules: Set<string>; edges: Edge[] } {
  const modules = new Set<string>();
  const edges: Edge[] = [];
  const queue = roots.map((root) => relative(REPO, root));
  while (queue.length > 0) {
    const module = queue.pop()!;
    if (modules.has(module)) continue;
    modules.add(module);
    if (!module.startsWith('src/')) continue;
    for (const edge of importsOf(join(REPO, module))) {
      if (edge.typeOnly) continue;
      edges.push(edge);
      queue.push(target(edge));
    }
  }
  return { modules, edges };
}

const clientFiles = readdirSync(CLIENT)
  .filter((name) => name.endsWith('.ts'))
  .map((name) => join(CLIENT, name));

t.test('every import of src/client stays in src/client and src/lb, or is a shared type', async (t) => {
  t.ok(clientFiles.length > 5, 'the client files were found');
  for (const file of clientFiles) {
    for (const edge of importsOf(file)) {
      const to = target(edge);
      const allowed =
        to.startsWith('src/client/') ||
        to.startsWith('src/lb/') ||
        PACKAGES_ALLOWED.has(to) ||
        (edge.typeOnly ? TYPES_ALLOWED.has(to) : RUNTIME_ALLOWED.includes(to));
      t.ok(allowed, `${edge.from} imports ${edge.typeOnly ? 'types from ' : ''}${to}`);
    }
  }
});

t.test('the run-time graph of src/client reaches no server code: no Fastify, SQLite, DNS or faces', async (t) => {
  const { modules, edges } = runtimeGraph(clientFiles);
  t.ok(modules.has('src/lb/manager.ts'), 'the strategies are in it');
  for (const module of modules) {
    const allowed = PACKAGES_ALLOWED.has(module) || RUNTIME_ALLOWED.some((prefix) => module.startsWith(prefix));
    const via = edges.find((edge) => target(edge) === module)?.from ?? 'a root';
    t.ok(allowed, `${module} (imported by ${via}) is allowed at run time`);
  }
  for (const forbidden of [
    'fastify',
    'better-sqlite3',
    'etcd3',
    'pino',
    'prom-client',
    'dns2',
    'node:dgram',
    'node:net',
  ]) {
    t.notOk(modules.has(forbidden), `${forbidden} is not reached`);
  }
  t.notOk(
    [...modules].some((module) => /^src\/(http|dns|catalog|health|cluster|config|metrics)\//.test(module)),
    'no face, store or config module',
  );
});
