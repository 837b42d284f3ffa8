import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism, loadavg } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { mirroredPath, transpileTree, typeScriptFiles } from './test-unit/transpile.js';
import { startTypeCheck } from './test-unit/type-check.js';

/**
 * `npm run test:unit`: every test file under test/ except the slow tier in test/slow/ (and the
 * helpers and fixtures, which are not tests), on a JavaScript mirror of the tree
 * (scripts/test-unit/transpile.ts) with no loader, so a file costs what its test costs. Files
 * share processes, packed by last run's times (packBatches); a file never timed runs alone, as tap
 * runs every file. `npm test` still runs every file, slow ones included, through tap.
 *
 * Usage: npm run test:unit [-- [--jobs N] [--node-arg=ARG ...] [test/some.test.ts ...]]
 */
const REPO = fileURLToPath(new URL('..', import.meta.url));
const OUT_DIR = join(REPO, '.test-build');
const TIMINGS = join(OUT_DIR, 'timings.json');
/** Not in this tier: the slow tier, and the directories tap itself excludes (package.json). */
const NOT_UNIT = ['test/slow/', 'test/helpers/', 'test/fixtures/'];
/** Processes per job that the files are packed into (packBatches). */
const UNITS_PER_JOB = 3;
const BATCH_SCRIPT = join(OUT_DIR, 'scripts/test-unit/batch.js');
/** Output kept per process for the failure report; a runaway test cannot fill the runner's memory. */
const MAX_OUTPUT_BYTES = 4 * 1024 * 1024;

interface FileResult {
  file: string;
  ok: boolean;
  ms: number;
  output: string;
  /** From the `# { total, pass, fail }` line tap prints last; null when the file died before it. */
  counts: { total: number; pass: number; fail: number } | null;
  reason: string | null;
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    jobs: { type: 'string', short: 'j' },
    // As tap's --node-arg: e.g. --node-arg=--cpu-prof to profile every file.
    'node-arg': { type: 'string', multiple: true, default: [] },
  },
});

const packageJson = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
  tap?: { timeout?: number; jobs?: number };
};
// Both tiers share tap's settings: the per-file timeout, and jobs (each process waits on real
// sockets and timers part of the time, so one more job than cores keeps the cores busy).
const timeoutSeconds = packageJson.tap?.timeout ?? 30;
const jobs = Number(values.jobs ?? (packageJson.tap?.jobs ?? availableParallelism()) + 1);
if (!Number.isInteger(jobs) || jobs < 1) throw new Error(`--jobs must be a positive integer, not ${values.jobs}`);

const tsconfig = JSON.parse(readFileSync(join(REPO, 'tsconfig.json'), 'utf8')) as {
  include: string[];
  compilerOptions: Record<string, unknown>;
};

const started = performance.now();
mkdirSync(OUT_DIR, { recursive: true });
const typeCheck = startTypeCheck(REPO, join(OUT_DIR, 'tsconfig.tsbuildinfo'));
const transpiled = await transpileTree({
  repo: REPO,
  roots: tsconfig.include,
  outDir: OUT_DIR,
  compilerOptions: tsconfig.compilerOptions,
});
const transpileMs = performance.now() - started;

const unitFiles = typeScriptFiles(REPO, ['test']).filter((file) => !NOT_UNIT.some((dir) => file.startsWith(dir)));
const requested = positionals.map((path) => relative(REPO, resolve(path)));
for (const path of requested) {
  if (!unitFiles.includes(path)) throw new Error(`${path} is not a unit-tier test file (see scripts/test-unit.ts)`);
}
const files = requested.length > 0 ? requested : unitFiles;

// Longest first (by the last run), so no long file starts last and runs alone at the end.
const timings = readTimings();
const queue = [...files].sort((a, b) => (timings[b] ?? Infinity) - (timings[a] ?? Infinity));

const live = new Set<number>();
process.once('SIGINT', () => {
  for (const pid of live) killGroup(pid);
  process.exit(130);
});

const results: FileResult[] = [];
const units = packBatches(queue, timings);
await Promise.all(
  Array.from({ length: Math.min(jobs, units.length) }, async () => {
    for (let unit = units.shift(); unit !== undefined; unit = units.shift()) {
      for (const result of await runUnit(unit)) results.push(result);
    }
  }),
);
writeFileSync(TIMINGS, JSON.stringify(timings));

const types = await typeCheck;
const failed = results.filter((result) => !result.ok);
for (const result of failed) {
  console.log(`\n# ${result.file}: ${result.reason ?? 'failed'}\n${result.output}`);
}
console.log(
  `\n${types.ok ? 'ok    ' : 'not ok'} ${(types.ms / 1000).toFixed(1).padStart(5)} s  tsc --noEmit\n${types.output}`,
);
const assertions = results.reduce(
  (sum, result) => ({
    total: sum.total + (result.counts?.total ?? 0),
    fail: sum.fail + (result.counts?.fail ?? 0),
  }),
  { total: 0, fail: 0 },
);
console.log(
  `# unit tier: ${results.length} files, ${failed.length} failed; ${assertions.total} assertions, ${assertions.fail} failed; ` +
    `types ${types.ok ? 'ok' : 'FAILED'}; ${((performance.now() - started) / 1000).toFixed(1)} s with ${jobs} jobs ` +
    `(transpile ${Math.round(transpileMs)} ms, ${transpiled.written} of ${transpiled.total} files), ` +
    `load average ${loadavg()[0].toFixed(1)}`,
);
process.exitCode = failed.length === 0 && types.ok ? 0 : 1;

/**
 * Files share processes (scripts/test-unit/batch.ts): UNITS_PER_JOB processes per job, filled by
 * last-run time, longest file first into the emptiest process, so every process takes about as
 * long and none is left running alone at the end. A file never timed runs alone first, as its
 * time is unknown. Times measured on a busy machine are all inflated alike, so the packing is not.
 */
function packBatches(sorted: readonly string[], lastMs: Readonly<Record<string, number>>): string[][] {
  const untimed = sorted.filter((file) => !Object.hasOwn(lastMs, file));
  const timed = sorted.filter((file) => Object.hasOwn(lastMs, file));
  const bins = Array.from({ length: Math.min(timed.length, jobs * UNITS_PER_JOB) }, () => ({
    files: [] as string[],
    ms: 0,
  }));
  for (const file of timed) {
    const emptiest = bins.reduce((least, bin) => (bin.ms < least.ms ? bin : least));
    emptiest.files.push(file);
    emptiest.ms += lastMs[file];
  }
  return [...untimed.map((file) => [file]), ...bins.sort((x, y) => y.ms - x.ms).map((bin) => bin.files)];
}

/**
 * Runs a unit and reports per file. A batch that fails is run again file by file, so the report
 * names the file that fails; if each passes alone, the batch itself is reported failed, since a
 * file then depends on what another left behind (or on running alone), which is a defect too.
 */
async function runUnit(unit: readonly string[]): Promise<FileResult[]> {
  if (unit.length === 1) return [report(await runProcess(unit, unit[0]))];
  const batch = await runProcess(unit, `batch of ${unit.length}`);
  const previous = unit.reduce((sum, file) => sum + (timings[file] ?? 0), 0);
  if (batch.ok) {
    // Per-file time is not seen inside a batch; the batch's time is shared as last time's was
    // (evenly when there is nothing to go by), at least 1 ms each so no share sticks at zero.
    for (const file of unit) {
      const share = previous > 0 ? (timings[file] ?? 0) / previous : 1 / unit.length;
      timings[file] = Math.max(1, Math.round(batch.ms * share));
    }
    console.log(`${line(batch)}: ${unit.join(' ')}`);
    // The batch's assertions are counted once, on its first file.
    return unit.map((file, index) => ({ ...batch, file, counts: index === 0 ? batch.counts : null }));
  }
  console.log(`${line(batch)}: ${unit.join(' ')}; each again alone`);
  const alone: FileResult[] = [];
  for (const file of unit) alone.push(report(await runProcess([file], file)));
  if (alone.some((result) => !result.ok)) return alone;
  return [
    ...alone.slice(1),
    {
      ...batch,
      file: unit[0],
      reason: `the batch failed (${batch.reason ?? 'failed'}) though each of its files passes alone: ${unit.join(' ')}`,
    },
  ];
}

function report(result: FileResult): FileResult {
  timings[result.file] = Math.round(result.ms);
  console.log(line(result));
  return result;
}

function line(result: FileResult): string {
  const count = result.counts === null ? '' : ` (${result.counts.pass}/${result.counts.total})`;
  return `${result.ok ? 'ok    ' : 'not ok'} ${(result.ms / 1000).toFixed(1).padStart(5)} s  ${result.file}${count}`;
}

/** Test files in their own process (and process group, so a timeout also stops what it started). */
function runProcess(unit: readonly string[], name: string): Promise<FileResult> {
  const fileStarted = performance.now();
  const scripts = unit.map((file) => join(OUT_DIR, mirroredPath(file)));
  const timeout = timeoutSeconds * unit.length;
  const child = spawn(
    process.execPath,
    ['--enable-source-maps', ...values['node-arg'], ...(unit.length === 1 ? scripts : [BATCH_SCRIPT, ...scripts])],
    {
      cwd: REPO,
      // tap's own per-file timeout, as the tap runner passes it down (a batch has each file's).
      env: { ...process.env, TAP_TIMEOUT: String(timeout) },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    },
  );
  const pid = child.pid;
  if (pid !== undefined) live.add(pid);
  const chunks: Buffer[] = [];
  let kept = 0;
  let truncated = false;
  const keep = (chunk: Buffer) => {
    if (kept + chunk.length > MAX_OUTPUT_BYTES) {
      truncated = true;
      return;
    }
    chunks.push(chunk);
    kept += chunk.length;
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let timedOut = false;
  // tap stops a file at TAP_TIMEOUT itself; this is the backstop for a process that cannot.
  const backstop = setTimeout(
    () => {
      timedOut = true;
      if (pid !== undefined) killGroup(pid);
    },
    (timeout + 10) * 1000,
  );
  return new Promise((resolvePromise) => {
    child.once('error', (error) => finish(null, null, error.message));
    child.once('close', (code, signal) => finish(code, signal, null));
    let finished = false;
    function finish(code: number | null, signal: NodeJS.Signals | null, error: string | null): void {
      if (finished) return;
      finished = true;
      clearTimeout(backstop);
      if (pid !== undefined) {
        live.delete(pid);
        // Whatever the file left running (a server it forgot, a child process) goes with it.
        killGroup(pid);
      }
      const output = Buffer.concat(chunks).toString('utf8') + (truncated ? '\n[output truncated]\n' : '');
      const counts = summary(output);
      const reason =
        error ??
        (timedOut
          ? `killed after ${timeout + 10} s`
          : signal !== null
            ? `killed by ${signal}`
            : code !== 0
              ? `exited with ${code}`
              : counts === null
                ? 'printed no tap summary'
                : counts.fail > 0
                  ? `${counts.fail} assertions failed`
                  : null);
      resolvePromise({ file: name, ok: reason === null, ms: performance.now() - fileStarted, output, counts, reason });
    }
  });
}

function summary(output: string): FileResult['counts'] {
  // tap's last line but one, e.g. `# { total: 23, pass: 22, fail: 1 }` (zero counts left out).
  const line = [...output.matchAll(/^# \{ total: .*\}$/gm)].at(-1)?.[0];
  if (line === undefined) return null;
  const counts = new Map([...line.matchAll(/(\w+): (\d+)/g)].map(([, name, count]) => [name, Number(count)]));
  return { total: counts.get('total') ?? 0, pass: counts.get('pass') ?? 0, fail: counts.get('fail') ?? 0 };
}

function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

function readTimings(): Record<string, number> {
  try {
    return JSON.parse(readFileSync(TIMINGS, 'utf8')) as Record<string, number>;
  } catch {
    return {};
  }
}
