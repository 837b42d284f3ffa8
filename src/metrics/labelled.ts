import type { Registry } from 'prom-client';

/**
 * A counter and a histogram for the per-request path, registered in prom-client's registry and
 * formatted by it. prom-client builds and interns a string from the label object on every inc()
 * or observe() (about 0.3 µs each, four of them per catalog query); here a label set's cell is
 * found through one Map per label, keyed by the values as given, and labels are only turned
 * into text when /metrics is scraped.
 */

/** A label value as the caller has it; a number (a status code) is printed as its decimal form. */
export type LabelValue = string | number;

type Labels = Record<string, string>;

/** What prom-client's registry reads from a metric's get() to format it. */
export interface ExportedMetric {
  name: string;
  help: string;
  type: 'counter' | 'histogram';
  aggregator: 'sum';
  values: { metricName?: string; labels: Record<string, string | number>; value: number }[];
}

/** Cells in a tree of Maps, one level per label; one to three labels. */
class LabelTree<C> {
  private readonly root = new Map<LabelValue, unknown>();
  /** Every cell with its labels, in creation order, for export. */
  readonly entries: { labels: Labels; cell: C }[] = [];

  constructor(
    private readonly labelNames: readonly string[],
    private readonly create: () => C,
  ) {
    if (labelNames.length < 1 || labelNames.length > 3) throw new Error('a labelled metric takes one to three labels');
  }

  cell(a: LabelValue, b?: LabelValue, c?: LabelValue): C {
    const depth = this.labelNames.length;
    const first = this.root;
    if (depth === 1) return (first.get(a) as C | undefined) ?? this.add(first, a, [a]);
    const second = this.level(first, a);
    if (depth === 2) return (second.get(b!) as C | undefined) ?? this.add(second, b!, [a, b!]);
    const third = this.level(second, b!);
    return (third.get(c!) as C | undefined) ?? this.add(third, c!, [a, b!, c!]);
  }

  clear(): void {
    this.root.clear();
    this.entries.length = 0;
  }

  /** Drops every cell whose first label is one of `values`, in one pass over the cells. */
  removeFirst(values: ReadonlySet<string>): void {
    const first = this.labelNames[0];
    let kept = 0;
    for (const entry of this.entries) if (!values.has(entry.labels[first])) this.entries[kept++] = entry;
    if (kept === this.entries.length) return;
    this.entries.length = kept;
    // Cells are keyed by the value as given (a number stays a number), so match on its text.
    for (const key of [...this.root.keys()]) if (values.has(String(key))) this.root.delete(key);
  }

  private level(parent: Map<LabelValue, unknown>, key: LabelValue): Map<LabelValue, unknown> {
    let child = parent.get(key) as Map<LabelValue, unknown> | undefined;
    if (child === undefined) parent.set(key, (child = new Map()));
    return child;
  }

  private add(parent: Map<LabelValue, unknown>, key: LabelValue, values: readonly LabelValue[]): C {
    const cell = this.create();
    parent.set(key, cell);
    const labels: Labels = {};
    this.labelNames.forEach((name, index) => (labels[name] = String(values[index])));
    this.entries.push({ labels, cell });
    return cell;
  }
}

interface MetricOptions {
  name: string;
  help: string;
  labelNames: readonly string[];
  registry: Registry;
}

/** What both kinds share: identity, the cells, registration and reset. */
abstract class LabelledMetric<C> {
  readonly name: string;
  readonly help: string;
  readonly aggregator = 'sum' as const;
  protected readonly tree: LabelTree<C>;

  constructor(options: MetricOptions, createCell: () => C) {
    this.name = options.name;
    this.help = options.help;
    this.tree = new LabelTree(options.labelNames, createCell);
    options.registry.registerMetric(this as unknown as Parameters<Registry['registerMetric']>[0]);
  }

  reset(): void {
    this.tree.clear();
  }

  /** Removes the series whose first label takes one of `values` (a service that is gone, say). */
  removeWhereFirstLabelIn(values: ReadonlySet<string>): void {
    this.tree.removeFirst(values);
  }
}

export class LabelledCounter extends LabelledMetric<{ value: number }> {
  readonly type = 'counter' as const;

  constructor(options: MetricOptions) {
    super(options, () => ({ value: 0 }));
  }

  inc(a: LabelValue, b?: LabelValue, c?: LabelValue): void {
    this.tree.cell(a, b, c).value += 1;
  }

  async get(): Promise<ExportedMetric> {
    const values = this.tree.entries.map(({ labels, cell }) => ({ labels, value: cell.value }));
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}

interface HistogramCell {
  /** Observations per bucket (not cumulative); the last slot is +Inf. */
  counts: Float64Array;
  sum: number;
  count: number;
}

export class LabelledHistogram extends LabelledMetric<HistogramCell> {
  readonly type = 'histogram' as const;
  private readonly bounds: readonly number[];

  constructor(options: MetricOptions & { buckets: readonly number[] }) {
    const bounds = [...options.buckets].sort((x, y) => x - y);
    super(options, () => ({ counts: new Float64Array(bounds.length + 1), sum: 0, count: 0 }));
    this.bounds = bounds;
  }

  observe(value: number, a: LabelValue, b?: LabelValue, c?: LabelValue): void {
    if (!Number.isFinite(value)) return;
    const cell = this.tree.cell(a, b, c);
    const bounds = this.bounds;
    let slot = 0;
    while (slot < bounds.length && value > bounds[slot]) slot++;
    cell.counts[slot] += 1;
    cell.sum += value;
    cell.count += 1;
  }

  /** In prom-client's own layout: `le` first, cumulative buckets ending at +Inf, then _sum and _count. */
  async get(): Promise<ExportedMetric> {
    const values: ExportedMetric['values'] = [];
    for (const { labels, cell } of this.tree.entries) {
      let cumulative = 0;
      for (let slot = 0; slot <= this.bounds.length; slot++) {
        cumulative += cell.counts[slot];
        const le = slot < this.bounds.length ? this.bounds[slot] : '+Inf';
        values.push({ metricName: `${this.name}_bucket`, labels: { le, ...labels }, value: cumulative });
      }
      values.push({ metricName: `${this.name}_sum`, labels, value: cell.sum });
      values.push({ metricName: `${this.name}_count`, labels, value: cell.count });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }
}
