/**
 * Bundles the web UI (src/ui) into dist/ui with esbuild: one minified script, one stylesheet
 * and the page. `npm run build` runs it; the UI tests call buildUi() into a directory of their own.
 */
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const SOURCE = fileURLToPath(new URL('../src/ui/', import.meta.url));
export const DEFAULT_OUT_DIR = fileURLToPath(new URL('../dist/ui/', import.meta.url));

export async function buildUi(outDir: string = DEFAULT_OUT_DIR): Promise<void> {
  mkdirSync(outDir, { recursive: true });
  await build({
    entryPoints: [join(SOURCE, 'main.ts')],
    bundle: true,
    minify: true,
    format: 'esm',
    target: ['es2020'],
    outfile: join(outDir, 'app.js'),
    legalComments: 'none',
    logLevel: 'warning',
  });
  copyFileSync(join(SOURCE, 'index.html'), join(outDir, 'index.html'));
  copyFileSync(join(SOURCE, 'app.css'), join(outDir, 'app.css'));
}

if (fileURLToPath(import.meta.url) === process.argv[1]) await buildUi();
