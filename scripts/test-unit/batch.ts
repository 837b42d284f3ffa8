import { relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import t from 'tap';

/**
 * Runs several transpiled test files in one process, one after the other: `node batch.js A.js B.js`.
 *
 * A process costs about a second of CPU before its first test (Node, tap, Fastify, Ajv and ~500
 * modules loaded, the first server's schemas compiled), more than most unit test files cost
 * themselves. Files in one batch share all of that. Each file's top-level `t.test` calls queue on
 * tap's root test, which runs them one at a time in import order, so a file still runs alone;
 * what a file leaves behind (a server, a timer, a listener) the next one sees, which is why
 * scripts/test-unit.ts reruns every file of a failed batch on its own before it blames one.
 *
 * The `# file` comment before each file's tests says whose output follows.
 */
for (const file of process.argv.slice(2)) {
  t.comment(`file ${relative(process.cwd(), file)}`);
  await import(pathToFileURL(file).href);
}
