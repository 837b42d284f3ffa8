/**
 * The DNS face's metrics, registered in the server's own registry (never prom-client's global
 * one). The two every answer touches are ours (src/metrics): counting a query is two Map reads
 * and an increment, timing it a bucket search, where prom-client hashes a label set per call;
 * labels are only turned into text when /metrics is scraped.
 */
import { Counter, type Registry } from 'prom-client';
import { LabelledCounter } from '../metrics/labelled.js';
import { UnlabelledHistogram } from '../metrics/unlabelled-histogram.js';
import type { MalformedReason } from './guard.js';
import type { TcpCloseReason } from './tcp-connection.js';
import { QTYPE, RCODE, rcodeLabel } from './wire.js';

/** Qtypes labelled by name; the slots after them are "other" and "none" (no question was read). */
const LABELLED_QTYPES: readonly number[] = [
  QTYPE.A,
  QTYPE.AAAA,
  QTYPE.SRV,
  QTYPE.ANY,
  QTYPE.CNAME,
  QTYPE.SOA,
  QTYPE.NS,
  QTYPE.TXT,
  QTYPE.PTR,
  QTYPE.MX,
  QTYPE.AXFR,
  QTYPE.IXFR,
];
const QTYPE_NAMES: ReadonlyMap<number, string> = new Map(Object.entries(QTYPE).map(([name, code]) => [code, name]));
const OTHER_SLOT = LABELLED_QTYPES.length;
const NONE_SLOT = OTHER_SLOT + 1;
const SLOT_LABELS: readonly string[] = [...LABELLED_QTYPES.map((code) => QTYPE_NAMES.get(code)!), 'other', 'none'];
const SLOT_BY_QTYPE: ReadonlyMap<number, number> = new Map(LABELLED_QTYPES.map((code, slot) => [code, slot]));
/** RCODEs Konsul sends: 0–5 in the header, 16 (BADVERS) through EDNS. */
const RCODE_SLOTS = RCODE.BADVERS + 1;

export class DnsMetrics {
  private readonly queries: LabelledCounter;
  private readonly duration: UnlabelledHistogram;
  private readonly malformedTotal: Counter<'reason'>;
  private readonly truncatedTotal: Counter;
  private readonly tcpClosedTotal: Counter<'reason'>;
  /** The rcode label of each slot, built once. */
  private readonly rcodeLabels: readonly string[] = Array.from({ length: RCODE_SLOTS }, (_, rcode) =>
    rcodeLabel(rcode),
  );

  constructor(registry: Registry) {
    // Get-or-create: a DNS server restarted against the same registry (tests, reloads) reuses its series.
    this.queries = metric(
      registry,
      'konsul_dns_queries_total',
      () =>
        new LabelledCounter({
          name: 'konsul_dns_queries_total',
          help: 'DNS messages answered, by question type and response code',
          labelNames: ['qtype', 'rcode'],
          registry,
        }),
    );
    this.duration = metric(
      registry,
      'konsul_dns_query_duration_seconds',
      () =>
        new UnlabelledHistogram(
          'konsul_dns_query_duration_seconds',
          'Time from receiving a DNS message to handing its answer to the socket',
          [0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05],
          registry,
        ),
    );
    this.malformedTotal = metric(
      registry,
      'konsul_dns_malformed_total',
      () =>
        new Counter({
          name: 'konsul_dns_malformed_total',
          help: 'DNS messages rejected as malformed (answered FORMERR or dropped), by reason',
          labelNames: ['reason'],
          registers: [registry],
        }),
    );
    this.truncatedTotal = metric(
      registry,
      'konsul_dns_truncated_total',
      () =>
        new Counter({
          name: 'konsul_dns_truncated_total',
          help: 'UDP answers sent with TC set because their answer records did not fit',
          registers: [registry],
        }),
    );
    this.tcpClosedTotal = metric(
      registry,
      'konsul_dns_tcp_closed_total',
      () =>
        new Counter({
          name: 'konsul_dns_tcp_closed_total',
          help: 'DNS TCP connections Konsul closed or turned away, by reason',
          labelNames: ['reason'],
          registers: [registry],
        }),
    );
  }

  /** One answered message; `qtype` is undefined when no question was read (FORMERR, unknown opcode). */
  answered(qtype: number | undefined, rcode: number, seconds: number): void {
    const slot = qtype === undefined ? NONE_SLOT : (SLOT_BY_QTYPE.get(qtype) ?? OTHER_SLOT);
    this.queries.inc(SLOT_LABELS[slot], this.rcodeLabels[rcode < RCODE_SLOTS ? rcode : RCODE.SERVFAIL]);
    this.duration.observe(seconds);
  }

  malformed(reason: MalformedReason): void {
    this.malformedTotal.inc({ reason });
  }

  truncated(): void {
    this.truncatedTotal.inc();
  }

  tcpClosed(reason: TcpCloseReason): void {
    this.tcpClosedTotal.inc({ reason });
  }
}

function metric<T>(registry: Registry, name: string, create: () => T): T {
  return (registry.getSingleMetric(name) as T | undefined) ?? create();
}
