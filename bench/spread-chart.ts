/**
 * Consistent-hash quality, measured on the strategy manager itself (no server): how evenly
 * ring-hash and maglev spread 10,000 session keys over 10 instances (max/mean keys per
 * instance; 1.0 is perfect), and what fraction of keys change owner when one instance is removed
 * or added, next to the theoretical minimum (1/n of the keys must move). Writes the chart to
 * docs/benchmark-spread.svg.
 *
 *   npx tsx bench/spread-chart.ts                       (npm run bench:spread)
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Instance } from '../src/catalog/types.js';
import { loadConfig } from '../src/config/load.js';
import { createStrategyManager, type StrategyManager } from '../src/lb/manager.js';
import { ROOT } from './lib/processes.js';
import { step } from './lib/progress.js';
import { fmt, isMain, renderSection, type Section } from './lib/report.js';
import { document, line, rect, text } from './lib/svg.js';

const INSTANCES = 10;
const KEYS = 10_000;
const STRATEGIES = ['ring-hash', 'maglev'] as const;
const COLORS = { 'ring-hash': '#3b6fb6', maglev: '#e08a2c', ideal: '#9aa0a6' };
export const CHART_FILE = join(ROOT, 'docs', 'benchmark-spread.svg');

function instance(i: number): Instance {
  return {
    id: `web-${String(i).padStart(2, '0')}`,
    name: 'web',
    address: `10.0.0.${i + 1}`,
    port: 8080,
    tags: [],
    meta: {},
    weight: 1,
    region: null,
    zone: null,
    status: 'passing',
    checks: [],
    createIndex: 1,
    modifyIndex: 1,
  };
}

/** The owner (first choice) of every key; `version` keys the manager's cached ring/table to this membership. */
function owners(manager: StrategyManager, strategy: string, instances: Instance[], version: string): string[] {
  const candidates = { key: `web@${version}`, service: 'web', instances };
  return Array.from(
    { length: KEYS },
    (_, k) => manager.order(candidates, { strategy, sessionKey: `session-${k}`, limit: 1 }).instances[0].id,
  );
}

function moved(before: string[], after: string[]): number {
  let count = 0;
  for (let k = 0; k < KEYS; k++) if (before[k] !== after[k]) count++;
  return count / KEYS;
}

export interface SpreadFigures {
  strategy: string;
  counts: number[];
  maxOverMean: number;
  /** Mean over removing each instance in turn. */
  removedMoved: number;
  addedMoved: number;
  /** Adding a 12th to 11 instances: off the ring's 10→11 scale boundary (see src/lb/ring.ts). */
  addedMovedFrom11: number;
}

export function measureSpread(): SpreadFigures[] {
  const manager = createStrategyManager(loadConfig({ env: {} }).lb);
  const base = Array.from({ length: INSTANCES }, (_, i) => instance(i));
  return STRATEGIES.map((strategy) => {
    const before = owners(manager, strategy, base, 'base');
    const counts = base.map((member) => before.filter((id) => id === member.id).length);
    let removedSum = 0;
    for (let r = 0; r < INSTANCES; r++) {
      removedSum += moved(
        before,
        owners(
          manager,
          strategy,
          base.filter((_, i) => i !== r),
          `without-${r}`,
        ),
      );
    }
    const plusOne = owners(manager, strategy, [...base, instance(INSTANCES)], 'plus-one');
    const addedMoved = moved(before, plusOne);
    const addedMovedFrom11 = moved(
      plusOne,
      owners(manager, strategy, [...base, instance(INSTANCES), instance(INSTANCES + 1)], 'plus-two'),
    );
    return {
      strategy,
      counts,
      maxOverMean: Math.max(...counts) / (KEYS / INSTANCES),
      removedMoved: removedSum / INSTANCES,
      addedMoved,
      addedMovedFrom11,
    };
  });
}

export function renderChart(figures: SpreadFigures[]): string {
  const width = 820;
  const height = 340;
  const body: string[] = [
    text(width / 2, 24, `ring-hash vs maglev: ${fmt.int(KEYS)} session keys over ${INSTANCES} instances`, {
      size: 15,
      anchor: 'middle',
      weight: 'bold',
    }),
  ];

  // Left: keys per instance, grouped bars, with the ideal (mean) as a dashed line.
  const left = { x: 50, y: 50, w: 430, h: 220 };
  const maxCount = Math.max(...figures.flatMap((figure) => figure.counts)) * 1.15;
  const scale = (value: number): number => (value / maxCount) * left.h;
  const group = left.w / INSTANCES;
  body.push(
    text(left.x + left.w / 2, left.y - 6, 'keys per instance (first choice)', { anchor: 'middle', weight: 'bold' }),
  );
  body.push(
    line(left.x, left.y + left.h, left.x + left.w, left.y + left.h, '#444'),
    line(left.x, left.y, left.x, left.y + left.h, '#444'),
  );
  for (const tick of [0, 500, 1000, 1500]) {
    if (tick > maxCount) continue;
    body.push(text(left.x - 6, left.y + left.h - scale(tick) + 4, String(tick), { size: 10, anchor: 'end' }));
  }
  for (let i = 0; i < INSTANCES; i++) {
    for (const [s, figure] of figures.entries()) {
      const count = figure.counts[i];
      const x = left.x + i * group + 4 + s * ((group - 8) / figures.length);
      body.push(
        rect(
          x,
          left.y + left.h - scale(count),
          (group - 8) / figures.length - 1,
          scale(count),
          COLORS[figure.strategy as keyof typeof COLORS],
          `${figure.strategy}, instance ${i}: ${count} keys`,
        ),
      );
    }
    body.push(text(left.x + i * group + group / 2, left.y + left.h + 14, String(i), { size: 10, anchor: 'middle' }));
  }
  const meanY = left.y + left.h - scale(KEYS / INSTANCES);
  body.push(
    line(left.x, meanY, left.x + left.w, meanY, '#222', true),
    text(left.x + left.w - 2, meanY - 4, 'mean (ideal)', { size: 10, anchor: 'end' }),
  );
  body.push(text(left.x + left.w / 2, left.y + left.h + 30, 'instance', { size: 11, anchor: 'middle' }));

  // Right: fraction of keys that change owner, against 1/n.
  const right = { x: 560, y: 50, w: 230, h: 220 };
  const cases = [
    { label: 'remove one', ideal: 1 / INSTANCES, pick: (figure: SpreadFigures) => figure.removedMoved },
    { label: 'add one', ideal: 1 / (INSTANCES + 1), pick: (figure: SpreadFigures) => figure.addedMoved },
  ];
  const maxFraction = Math.max(0.2, ...figures.flatMap((figure) => cases.map((c) => c.pick(figure)))) * 1.15;
  const scaleFraction = (value: number): number => (value / maxFraction) * right.h;
  body.push(text(right.x + right.w / 2, right.y - 6, 'keys remapped', { anchor: 'middle', weight: 'bold' }));
  body.push(
    line(right.x, right.y + right.h, right.x + right.w, right.y + right.h, '#444'),
    line(right.x, right.y, right.x, right.y + right.h, '#444'),
  );
  for (const tick of [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3]) {
    if (tick > maxFraction) continue;
    body.push(
      text(right.x - 6, right.y + right.h - scaleFraction(tick) + 4, fmt.percent(tick), { size: 10, anchor: 'end' }),
    );
  }
  const caseWidth = right.w / cases.length;
  const barWidth = (caseWidth - 20) / (figures.length + 1);
  for (const [c, entry] of cases.entries()) {
    const bars = [
      ...figures.map((figure) => ({ name: figure.strategy, value: entry.pick(figure) })),
      { name: 'ideal', value: entry.ideal },
    ];
    for (const [b, bar] of bars.entries()) {
      const x = right.x + c * caseWidth + 10 + b * barWidth;
      const y = right.y + right.h - scaleFraction(bar.value);
      body.push(
        rect(
          x,
          y,
          barWidth - 2,
          scaleFraction(bar.value),
          COLORS[bar.name as keyof typeof COLORS],
          `${bar.name}, ${entry.label}: ${fmt.percent(bar.value)}`,
        ),
      );
      body.push(text(x + (barWidth - 2) / 2, y - 3, `${(bar.value * 100).toFixed(1)}`, { size: 9, anchor: 'middle' }));
    }
    body.push(
      text(right.x + c * caseWidth + caseWidth / 2, right.y + right.h + 14, entry.label, {
        size: 11,
        anchor: 'middle',
      }),
    );
  }

  // Legend, with the spread figures in it.
  const legendY = height - 22;
  let legendX = 50;
  for (const figure of figures) {
    body.push(rect(legendX, legendY - 10, 12, 12, COLORS[figure.strategy as keyof typeof COLORS]));
    body.push(
      text(legendX + 18, legendY, `${figure.strategy} (max/mean ${figure.maxOverMean.toFixed(3)})`, { size: 12 }),
    );
    legendX += 250;
  }
  body.push(
    rect(legendX, legendY - 10, 12, 12, COLORS.ideal),
    text(legendX + 18, legendY, 'ideal: 1/n of the keys move', { size: 12 }),
  );
  return document(width, height, 'Key spread and remapping: ring-hash vs maglev', body);
}

export async function run(): Promise<Section> {
  step(`spread: ${fmt.int(KEYS)} keys over ${INSTANCES} instances, ring-hash and maglev, through the strategy manager`);
  const figures = measureSpread();
  writeFileSync(CHART_FILE, renderChart(figures));
  step(`spread: chart written to docs/benchmark-spread.svg`);
  const config = loadConfig({ env: {} }).lb;
  return {
    title: 'Consistent hashing: key spread and remapping',
    summary:
      `${fmt.int(KEYS)} session keys over ${INSTANCES} instances of weight 1, through \`createStrategyManager(loadConfig().lb)\` with the default configuration ` +
      `(ring: ${config.ringHash.pointsPerWeight} points per weight, at least ${config.ringHash.minRingSize}; Maglev table ${fmt.int(config.maglev.tableSize)} slots). ` +
      "Spread is the busiest instance's share over the mean (1.00 is perfect); remapped is the fraction of keys whose first choice changes when one instance is removed " +
      `(mean over removing each in turn) or one is added; the theoretical minimum is 1/n (${fmt.percent(1 / INSTANCES)} and ${((1 / (INSTANCES + 1)) * 100).toFixed(1)}%).`,
    tables: [
      {
        headers: ['strategy', 'max/mean keys per instance', 'min/mean', 'remapped, one removed', 'remapped, one added'],
        align: ['l', 'r', 'r', 'r', 'r'],
        rows: [
          ...figures.map((figure) => [
            figure.strategy,
            figure.maxOverMean.toFixed(3),
            (Math.min(...figure.counts) / (KEYS / INSTANCES)).toFixed(3),
            `${(figure.removedMoved * 100).toFixed(1)}% (${fmt.ratio(figure.removedMoved * INSTANCES)} ideal)`,
            `${(figure.addedMoved * 100).toFixed(1)}% (${fmt.ratio(figure.addedMoved * (INSTANCES + 1))} ideal)`,
          ]),
          [
            'theoretical',
            '1.000',
            '1.000',
            `${((1 / INSTANCES) * 100).toFixed(1)}%`,
            `${((1 / (INSTANCES + 1)) * 100).toFixed(1)}%`,
          ],
        ],
      },
    ],
    command: 'npx tsx bench/spread-chart.ts',
    notes: [
      'Adding an 11th instance is a worst case for ring-hash with the defaults: 10 instances × 100 points fall short of `minRingSize` 1,024, so the ring doubles every ' +
        "instance's points, and at 11 instances it no longer needs to; the scale change moves keys between surviving instances (documented in src/lb/ring.ts). " +
        `Off that boundary, adding a 12th instance to 11 remaps ${figures.map((figure) => `${(figure.addedMovedFrom11 * 100).toFixed(1)}% with ${figure.strategy}`).join(' and ')} (ideal ${((1 / (INSTANCES + 2)) * 100).toFixed(1)}%).`,
      '![Key spread and remapping: ring-hash vs maglev](benchmark-spread.svg)',
    ],
  };
}

if (isMain(import.meta.url)) console.log(renderSection(await run()));
