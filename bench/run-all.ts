/**
 * Every benchmark, in order, each bounded in time; writes docs/benchmarks.md (and the chart
 * docs/benchmark-spread.svg). The whole run takes about 10 minutes on 2 cores.
 *
 *   npx tsx bench/run-all.ts                            (npm run bench)
 *
 * Knobs, passed on to the steps: BENCH_SECONDS (5), BENCH_ROUNDS (3), BENCH_SHORT_SECONDS (3),
 * BENCH_WATCHERS (5000), BENCH_LARGE_SERVICES (1000), BENCH_DNS_SECONDS (5 here), HEALTH_BENCH_SECONDS (30 here).
 * The soak (bench/soak.ts) is not run; its latest result is included when bench/results/soak.md exists.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runScript, type ScriptRun } from './lib/child-script.js';
import { machineLine } from './lib/machine.js';
import { ROOT } from './lib/processes.js';
import { step } from './lib/progress.js';
import { goalTable, renderSection, renderTable, type GoalRow, type Section, type Table } from './lib/report.js';
import { SOAK_FILE } from './soak.js';
import { CLUSTER_HEADING } from './cluster.js';
import { keptSection } from './lib/kept-section.js';

const REPORT_FILE = join(ROOT, 'docs', 'benchmarks.md');
const MINUTE = 60_000;

interface Step {
  title: string;
  timeoutMs: number;
  run(): Promise<Section>;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms / 1000} s`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function fenced(text: string): string {
  return `\`\`\`\n${text.trim()}\n\`\`\``;
}

/** A section for a script owned elsewhere: its own printed output, verbatim, or a plain statement that it is missing or failed. */
async function scriptSection(
  title: string,
  file: string,
  args: string[],
  env: Record<string, string>,
  timeoutMs: number,
  command: string,
  pick: (run: ScriptRun) => string,
): Promise<Section> {
  if (!existsSync(join(ROOT, file))) {
    return {
      title,
      summary: `**Not measured: \`${file}\` does not exist in this tree.**`,
      tables: [],
      command,
      notes: [],
    };
  }
  step(
    `${title}: running ${file} (${Object.entries(env)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ')})`,
  );
  const run = await runScript(file, args, env, timeoutMs);
  step(
    `${title}: ${run.ok ? 'done' : run.timedOut ? 'TIMED OUT' : `FAILED (exit ${run.exitCode})`} in ${run.seconds.toFixed(0)} s`,
  );
  if (!run.ok) {
    const why = run.timedOut
      ? `did not finish within ${timeoutMs / 1000} s and was stopped`
      : `exited with code ${run.exitCode}`;
    return {
      title,
      summary: `**Not measured: \`${file}\` ${why}.** Its output:`,
      tables: [],
      command,
      notes: [fenced(`${run.stdout}\n${run.stderr}`.slice(-4000) || '(no output)')],
    };
  }
  return {
    title,
    summary: `\`${file}\` (owned by its own module), run with ${Object.entries(env)
      .map(([k, v]) => `\`${k}=${v}\``)
      .join(', ')}; its goal lines, then its printed result verbatim:`,
    tables: [printedGoals(run.stdout)],
    command,
    notes: [pick(run)],
  };
}

/** The script's own verdict lines ("… goal … met" / "NOT met"), as goal rows for the summary. */
function printedGoals(output: string): Table {
  const rows: GoalRow[] = output
    .split('\n')
    .filter((line) => /goal/i.test(line) && /\bmet\s*$/.test(line.trim()))
    .map((line) => {
      const text = line.trim();
      const met = !/NOT met\s*$/.test(text);
      return {
        figure: text.replace(/[\s:—-]*(NOT )?met$/, ''),
        value: 'see output',
        baseline: '—',
        ratio: '—',
        goal: 'in the figure',
        met,
      };
    });
  return goalTable(rows);
}

const steps: Step[] = [
  {
    title: 'Load-balancing micro-benchmark',
    timeoutMs: 4 * MINUTE,
    run: async () => {
      step('lb: running bench/lb.ts');
      const run = await runScript('bench/lb.ts', [], {}, 4 * MINUTE);
      if (!run.ok)
        throw new Error(
          `bench/lb.ts ${run.timedOut ? 'timed out' : `exited with ${run.exitCode}`}: ${run.stderr.slice(-1000)}`,
        );
      return {
        title: 'Load-balancing micro-benchmark',
        summary:
          'ns per `StrategyManager.order()` call, in process, against `instances.slice()` measured in the same run (the least any answer costs); then ring and Maglev build times.',
        tables: [],
        command: 'npx tsx bench/lb.ts',
        notes: [run.stdout.trim()],
      };
    },
  },
  { title: 'Catalog query over HTTP', timeoutMs: 5 * MINUTE, run: async () => (await import('./http.js')).run() },
  { title: 'Large catalog', timeoutMs: 6 * MINUTE, run: async () => (await import('./large-catalog.js')).run() },
  {
    title: 'Registration over HTTP',
    timeoutMs: 3 * MINUTE,
    run: async () => (await import('./registration.js')).run(),
  },
  { title: 'Blocking queries', timeoutMs: 3 * MINUTE, run: async () => (await import('./watchers.js')).run() },
  { title: 'Client', timeoutMs: 5 * MINUTE, run: async () => (await import('./client.js')).run() },
  {
    title: 'DNS',
    timeoutMs: 3 * MINUTE,
    run: () =>
      scriptSection(
        'DNS',
        'bench/dns.ts',
        [],
        { BENCH_DNS_SECONDS: process.env.BENCH_DNS_SECONDS ?? '5' },
        3 * MINUTE,
        'npx tsx bench/dns.ts',
        (run) => fenced(run.stdout),
      ),
  },
  {
    title: 'Health checks',
    timeoutMs: 4 * MINUTE,
    run: () =>
      scriptSection(
        'Health checks',
        'bench/health.ts',
        [],
        { HEALTH_BENCH_SECONDS: process.env.HEALTH_BENCH_SECONDS ?? '30' },
        4 * MINUTE,
        'npx tsx bench/health.ts',
        (run) => fenced(run.stdout),
      ),
  },
  {
    title: 'Load-balancing tables under hostile queries and writes',
    timeoutMs: 5 * MINUTE,
    run: async () => (await (await import('./hostile.js')).run(['lb']))[0],
  },
  // The other full-size repros of issue #13 (items 2, 5 and 6), each a script with processes of its own.
  ...(['connections', 'dns', 'churn'] as const).map((name) => ({
    title: `Hostile load: ${name}`,
    timeoutMs: 8 * MINUTE,
    run: async () => (await (await import('./hostile.js')).run([name]))[0],
  })),
  {
    title: 'Consistent hashing: key spread and remapping',
    timeoutMs: 2 * MINUTE,
    run: async () => (await import('./spread-chart.js')).run(),
  },
];

/** Every goal row of every section, for the summary at the top. */
function goalSummary(sections: Section[]): string {
  const rows: string[][] = [];
  for (const section of sections) {
    for (const table of section.tables) {
      if (table.headers.at(-1) !== 'met?') continue;
      for (const row of table.rows) if (row.at(-1) !== 'n/a') rows.push([section.title, ...row]);
    }
  }
  return renderTable({
    headers: ['benchmark', 'figure', 'Konsul', 'baseline', 'ratio', 'goal', 'met?'],
    align: ['l', 'l', 'r', 'r', 'r', 'l', 'l'],
    rows,
  });
}

const machine = machineLine();
const started = Date.now();
const sections: Section[] = [];
for (const entry of steps) {
  try {
    sections.push(await withTimeout(entry.run(), entry.timeoutMs, entry.title));
  } catch (error) {
    step(`${entry.title}: FAILED: ${(error as Error).message.split('\n')[0]}`);
    sections.push({
      title: entry.title,
      summary: `**Not measured: the step failed.**`,
      tables: [],
      command: 'npx tsx bench/run-all.ts',
      notes: [fenced((error as Error).message)],
    });
  }
}
const minutes = ((Date.now() - started) / MINUTE).toFixed(1);
// bench/cluster.ts writes its own section (it needs an etcd cluster); keep it.
const cluster = keptSection(REPORT_FILE, CLUSTER_HEADING);
const soak = existsSync(SOAK_FILE) ? readFileSync(SOAK_FILE, 'utf8').replace(/^## /, '### ') : null;

const report = [
  '# Benchmarks',
  `Generated by \`npm run bench\` (\`npx tsx bench/run-all.ts\`) on ${new Date().toISOString().slice(0, 10)} in ${minutes} minutes. Do not edit by hand.`,
  `**Machine:** ${machine}.`,
  'Every figure is measured against a baseline in the same run, and the ratio is the figure to read. Each server under test runs in its own ' +
    'process (`node --import tsx src/main.ts`, log level warn unless stated, a fresh temp data dir each), on 127.0.0.1, apart from the load ' +
    'generator (autocannon in the bench process). **On this 2-core machine the load generator and the server share the cores, and other work may ' +
    'run at the same time, so absolute figures are noisy and low**; alternating rounds with medians keep the ratios steadier than the absolutes.',
  '## Goals',
  goalSummary(sections),
  ...sections.map((section) => renderSection(section)),
  ...(cluster === null ? [] : [cluster]),
  '## Soak',
  soak === null
    ? 'Not part of `npm run bench`. Run `BENCH_SOAK_SECONDS=600 npx tsx bench/soak.ts` (`npm run bench:soak`); its result is written to bench/results/soak.md and included here by the next `npm run bench`.'
    : `Not part of \`npm run bench\`; the latest result of \`bench/soak.ts\` from bench/results/soak.md:\n\n${soak.trim()}`,
  '',
].join('\n\n');
writeFileSync(REPORT_FILE, report);
step(`wrote docs/benchmarks.md (${minutes} minutes)`);
process.exit(0);
