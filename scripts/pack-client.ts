/**
 * `npm run pack:client [out dir]`: the standalone `konsul-client` package, from the same
 * sources as `konsul/client`. One ES module bundled by esbuild (src/client, the src/lb
 * strategies it runs and the bits of typebox their config schemas use: no dependency left
 * to install, nothing native) plus the .d.ts files its public types reach. The bundle's
 * inputs are checked against the modules the client may use, so server code cannot slip in
 * even if the import-graph test were skipped. Prints the tarball's path.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const REPO = fileURLToPath(new URL('../', import.meta.url));
/** What the bundle may be made of: the client, the strategies, shared leaf modules, typebox. */
const ALLOWED_INPUTS = [
  /^src\/client\//,
  /^src\/lb\//,
  /^src\/(errors|clock|duration)\.ts$/,
  /node_modules\/typebox\//,
];

export interface PackedClient {
  tarball: string;
  /** Files in the package, relative to its root. */
  files: string[];
  /** Bytes of the bundled module. */
  bundleBytes: number;
}

export async function packClient(outDir: string): Promise<PackedClient> {
  const version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
  const stage = mkdtempSync(join(tmpdir(), 'konsul-client-'));
  try {
    const bundle = join(stage, 'dist', 'index.js');
    const result = await build({
      entryPoints: [join(REPO, 'src', 'client', 'index.ts')],
      outfile: bundle,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      metafile: true,
      legalComments: 'inline',
      logLevel: 'silent',
    });
    const inputs = Object.keys(result.metafile.inputs).map((input) => relative(REPO, resolve(REPO, input)));
    const strays = inputs.filter((input) => !ALLOWED_INPUTS.some((allowed) => allowed.test(input)));
    if (strays.length > 0) throw new Error(`konsul-client would bundle modules it must not: ${strays.join(', ')}`);

    const types = join(stage, 'types');
    execFileSync(
      join(REPO, 'node_modules', '.bin', 'tsc'),
      ['-p', join(REPO, 'tsconfig.client.json'), '--outDir', types],
      {
        stdio: 'inherit',
      },
    );
    const typeFiles = reachableDeclarations(types, 'client/index.d.ts');
    pruneTo(types, typeFiles);

    const manifest = {
      name: 'konsul-client',
      version,
      description:
        'Client-side load balancing on Konsul strategies: discovery, retries, outlier ejection, registration',
      license: 'MIT',
      type: 'module',
      engines: { node: '>=20' },
      exports: {
        '.': { types: './types/client/index.d.ts', default: './dist/index.js' },
        './package.json': './package.json',
      },
      types: './types/client/index.d.ts',
      sideEffects: false,
      files: ['dist', 'types', 'README.md'],
    };
    writeFileSync(join(stage, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    copyFileSync(join(REPO, 'docs', 'client.md'), join(stage, 'README.md'));

    mkdirSync(outDir, { recursive: true });
    const packed = JSON.parse(
      execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', resolve(outDir)], {
        cwd: stage,
        encoding: 'utf8',
      }),
    ) as { filename: string; files: { path: string }[] }[];
    return {
      tarball: join(resolve(outDir), packed[0].filename),
      files: packed[0].files.map((file) => file.path).sort(),
      bundleBytes: readFileSync(bundle).byteLength,
    };
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** The .d.ts files `entry` reaches through relative imports: the package ships only those. */
function reachableDeclarations(root: string, entry: string): Set<string> {
  const seen = new Set<string>();
  const queue = [entry];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(join(root, file), 'utf8');
    for (const match of text.matchAll(/from '(\.{1,2}\/[^']+)\.js'/g)) {
      queue.push(relative(root, resolve(root, dirname(file), `${match[1]}.d.ts`)));
    }
  }
  return seen;
}

function pruneTo(root: string, keep: Set<string>): void {
  const all = execFileSync('find', [root, '-name', '*.d.ts'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const file of all) if (!keep.has(relative(root, file))) rmSync(file);
}

const entry = process.argv.at(1);
if (entry !== undefined && resolve(entry) === fileURLToPath(import.meta.url)) {
  const packed = await packClient(process.argv[2] ?? join(REPO, 'dist-client'));
  console.log(packed.tarball);
}
