import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The report's building blocks: sections of tables and notes, rendered as Markdown. */

export interface Table {
  headers: string[];
  /** Cells are already formatted; a column whose header starts with a digit-like figure is right-aligned by the caller's choice of `align`. */
  rows: string[][];
  /** 'r' right-aligns a column; defaults to left. */
  align?: ('l' | 'r')[];
}

export interface Section {
  title: string;
  /** What was measured and against what, in a sentence or two. */
  summary: string;
  tables: Table[];
  /** The exact command that reproduces this section alone. */
  command: string;
  notes: string[];
}

/** One row of a goal table: figure, baseline, ratio, goal, met. */
export interface GoalRow {
  figure: string;
  value: string;
  baseline: string;
  ratio: string;
  goal: string;
  met: boolean | null;
}

export function goalTable(rows: GoalRow[]): Table {
  return {
    headers: ['figure', 'Konsul', 'baseline', 'ratio', 'goal', 'met?'],
    align: ['l', 'r', 'r', 'r', 'l', 'l'],
    rows: rows.map((row) => [
      row.figure,
      row.value,
      row.baseline,
      row.ratio,
      row.goal,
      row.met === null ? 'n/a' : row.met ? 'yes' : '**no**',
    ]),
  };
}

export function renderTable(table: Table): string {
  const escape = (cell: string): string => cell.replaceAll('|', '\\|');
  const align = table.headers.map((_, i) => (table.align?.[i] === 'r' ? '---:' : '---'));
  return [
    `| ${table.headers.map(escape).join(' | ')} |`,
    `|${align.join('|')}|`,
    ...table.rows.map((row) => `| ${row.map(escape).join(' | ')} |`),
  ].join('\n');
}

export function renderSection(section: Section, level = 2): string {
  const parts = [`${'#'.repeat(level)} ${section.title}`, section.summary];
  for (const table of section.tables) parts.push(renderTable(table));
  for (const note of section.notes) parts.push(note);
  parts.push(`Reproduce: \`${section.command}\``);
  return parts.join('\n\n');
}

export const fmt = {
  int: (value: number): string => Math.round(value).toLocaleString('en-US'),
  ms: (value: number): string =>
    value >= 100 ? `${value.toFixed(0)} ms` : value >= 10 ? `${value.toFixed(1)} ms` : `${value.toFixed(2)} ms`,
  ratio: (value: number): string => `${value.toFixed(2)}×`,
  percent: (value: number): string => `${(value * 100).toFixed(0)}%`,
};

/** True when this module is the script Node was started with (tsx keeps the .ts path in argv[1]). */
export function isMain(moduleUrl: string): boolean {
  const entry = process.argv.at(1);
  return entry !== undefined && resolve(fileURLToPath(moduleUrl)) === resolve(entry);
}
