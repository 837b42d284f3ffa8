import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { transform, version as esbuildVersion } from 'esbuild';

/**
 * The TypeScript tree mirrored as JavaScript, so that test processes run on plain `node` with no
 * loader: a loader (tap's ts-node, tsx) costs each test process 2–5 s of CPU on top of the test,
 * compiling the same ~100 modules again and hooking every module Node loads.
 *
 * One file in, one file out (tsconfig.json promises `isolatedModules`, so esbuild's per-file
 * transform means what tsc means). Types are not checked here; `tsc --noEmit` does that.
 * Each output keeps its source's `import.meta.url`, so the paths a module derives from it
 * (migrations, konsul.config.json, package.json, docs, test fixtures) are the source tree's,
 * exactly as when the .ts file runs in place; only `import` specifiers resolve inside the mirror.
 * Inline source maps point stack traces back at the .ts lines (node --enable-source-maps).
 */
export interface TranspileResult {
  /** Files written because they were new or changed. */
  written: number;
  /** Files in the mirror. */
  total: number;
  /** Outputs removed because their source is gone. */
  removed: number;
}

interface Manifest {
  /** Source path (relative to the repository) → hash of source and transform settings. */
  files: Record<string, string>;
}

const MANIFEST = 'manifest.json';

/** Every .ts file under `roots` (relative to `repo`), depth first, in a stable order. */
export function typeScriptFiles(repo: string, roots: readonly string[]): string[] {
  const walk = (dir: string): string[] =>
    readdirSync(join(repo, dir), { withFileTypes: true })
      .sort((a, b) => a.name.localeCompare(b.name))
      .flatMap((entry) => {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) return walk(path);
        return entry.isFile() && entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
      });
  return roots.flatMap((root) => walk(root));
}

/** The output path of a source file, relative to the mirror's root. */
export const mirroredPath = (source: string): string => source.replace(/\.ts$/, '.js');

/**
 * Brings `outDir` up to date with the .ts files under `roots`: transpiles the ones whose source
 * (or the settings below) changed since the last call, and removes outputs whose source is gone.
 */
export async function transpileTree(options: {
  repo: string;
  roots: readonly string[];
  outDir: string;
  /** tsconfig.json's compilerOptions, which decide class-field and import semantics. */
  compilerOptions: Record<string, unknown>;
}): Promise<TranspileResult> {
  const { repo, roots, outDir, compilerOptions } = options;
  const settings = JSON.stringify({ esbuildVersion, compilerOptions, format: 2 });
  const previous = readManifest(outDir);
  const next: Manifest = { files: {} };
  const sources = typeScriptFiles(repo, roots);
  let written = 0;
  await Promise.all(
    sources.map(async (source) => {
      const path = join(repo, source);
      const code = readFileSync(path, 'utf8');
      const hash = createHash('sha1').update(settings).update('\0').update(code).digest('hex');
      next.files[source] = hash;
      const out = join(outDir, mirroredPath(source));
      if (previous.files[source] === hash && existsSync(out)) return;
      const url = pathToFileURL(path).href;
      const result = await transform(code, {
        loader: 'ts',
        format: 'esm',
        platform: 'node',
        target: 'node20',
        sourcemap: 'inline',
        sourcefile: path,
        tsconfigRaw: { compilerOptions },
        define: {
          'import.meta.url': JSON.stringify(url),
          'import.meta.filename': JSON.stringify(path),
          'import.meta.dirname': JSON.stringify(dirname(path)),
        },
      });
      mkdirSync(dirname(out), { recursive: true });
      writeFileSync(out, result.code);
      written += 1;
    }),
  );
  let removed = 0;
  for (const source of Object.keys(previous.files)) {
    if (Object.hasOwn(next.files, source)) continue;
    rmSync(join(outDir, mirroredPath(source)), { force: true });
    removed += 1;
  }
  // Written last: an interrupted run leaves the old manifest, so the next run redoes its files.
  writeFileSync(join(outDir, MANIFEST), JSON.stringify(next));
  return { written, total: sources.length, removed };
}

function readManifest(outDir: string): Manifest {
  try {
    const parsed = JSON.parse(readFileSync(join(outDir, MANIFEST), 'utf8')) as Partial<Manifest>;
    return { files: parsed.files ?? {} };
  } catch {
    return { files: {} };
  }
}
