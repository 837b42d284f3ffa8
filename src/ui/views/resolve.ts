import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { get, query, type DnsPreview, type Explained, type Overview } from '../api.js';
import { statusLabel } from '../format.js';

interface Props {
  name: string;
  overview: Overview;
  /** Changes when the service does: the answer is asked for again. */
  version: number;
}

interface Params {
  lb: string;
  'session-key': string;
  'client-ip': string;
  'client-region': string;
  tag: string;
  /** Meta filters, `key:value`, separated by spaces (each one a `meta=` of the query). */
  meta: string;
  limit: string;
  passing: boolean;
}

const REASONS: Readonly<Record<string, string>> = {
  critical: 'critical',
  warning: 'warning (passing only)',
  tag: 'tag filter',
  meta: 'meta filter',
  maintenance: 'in maintenance',
};

/** The label of "no `lb` sent": what the service's answers use by default, and where that comes from. */
export function serviceDefault(overview: Overview, name: string): string {
  const row = overview.services.find((service) => service.name === name);
  const strategy = row?.strategy ?? overview.defaultStrategy;
  return `default: ${strategy} (${row?.strategyFrom === 'service' ? 'service config' : 'server'})`;
}

/**
 * The answer a client would get, from the catalog query itself with explain=true (reasons come
 * from the server), beside what DNS answers, from the DNS face's own code.
 */
export function ResolvePanel({ name, overview, version }: Props) {
  const [params, setParams] = useState<Params>({
    // Empty: no `lb` is sent, so the service's own config applies, as for a client that sends none.
    lb: '',
    'session-key': '',
    'client-ip': '',
    'client-region': '',
    tag: '',
    meta: '',
    limit: '',
    passing: false,
  });
  const [asked, setAsked] = useState(0);
  const [answer, setAnswer] = useState<Explained | null>(null);
  const [dns, setDns] = useState<{ a: DnsPreview; srv: DnsPreview } | null>(null);
  const [error, setError] = useState('');

  useEffect(() => {
    const abort = new AbortController();
    const search = query({
      explain: true,
      lb: params.lb,
      'session-key': params['session-key'],
      'client-ip': params['client-ip'],
      'client-region': params['client-region'],
      tag: params.tag,
      meta: params.meta.split(/\s+/),
      limit: params.limit,
      passing: params.passing ? true : undefined,
    });
    get<Explained>(`/catalog/services/${name}${search}`, abort.signal).then(
      (explained) => {
        setAnswer(explained);
        setError('');
      },
      (caught: unknown) => {
        if (!abort.signal.aborted) setError(String((caught as Error).message));
      },
    );
    if (overview.dns.enabled) {
      const tag = query({ tag: params.tag });
      const extra = tag === '' ? '' : `&${tag.slice(1)}`;
      Promise.all([
        get<DnsPreview>(`/ui/api/dns/${name}?type=A${extra}`, abort.signal),
        get<DnsPreview>(`/ui/api/dns/${name}?type=SRV${extra}`, abort.signal),
      ]).then(
        ([a, srv]) => setDns({ a, srv }),
        () => setDns(null),
      );
    }
    return () => abort.abort();
  }, [name, asked, version]);

  const field = (key: keyof Params, label: string, hint: string) => html`
    <label>
      ${label}
      <input
        name=${key}
        value=${params[key] as string}
        placeholder=${hint}
        onInput=${(event: Event) => setParams({ ...params, [key]: (event.target as HTMLInputElement).value })}
      />
    </label>
  `;
  return html`
    <section class="panel resolve" aria-labelledby="resolve-title">
      <h2 id="resolve-title">Resolve as a client</h2>
      <form
        class="grid"
        onSubmit=${(event: Event) => {
          event.preventDefault();
          setAsked(asked + 1);
        }}
      >
        <label>
          Strategy
          <select
            name="lb"
            value=${params.lb}
            onChange=${(event: Event) => setParams({ ...params, lb: (event.target as HTMLSelectElement).value })}
          >
            <option value="">${serviceDefault(overview, name)}</option>
            ${overview.strategies.map((strategy) => html`<option value=${strategy}>${strategy}</option>`)}
          </select>
        </label>
        ${field('session-key', 'Session key', 'ring-hash, maglev')} ${field('client-ip', 'Client IP', 'ip-hash')}
        ${field('client-region', 'Client region', 'latency-based')} ${field('tag', 'Tag', 'any')}
        ${field('meta', 'Meta', 'key:value')} ${field('limit', 'Limit', 'all')}
        <label class="check">
          <input
            type="checkbox"
            name="passing"
            checked=${params.passing}
            onChange=${(event: Event) => setParams({ ...params, passing: (event.target as HTMLInputElement).checked })}
          />
          Passing only
        </label>
        <button type="submit">Resolve</button>
      </form>
      ${error === '' ? null : html`<p class="error" role="alert">${error}</p>`}
      ${
        answer === null
          ? null
          : html`
              <p class="muted">
                ${`Strategy ${answer.strategy} · index ${answer.index}`}
                ${answer.panic ? ' · PANIC: unhealthy instances answered' : ''}
              </p>
              <h3>Answer, in order</h3>
              <ol class="answer" data-testid="resolved">
                ${answer.instances.map(
                  (instance) =>
                    html`<li data-id=${instance.id}>
                      ${`${instance.id} `}<span class="muted">${`${instance.address}:${instance.port} `}</span>
                      <span class=${`badge ${instance.status}`}>${statusLabel(instance.status)}</span>
                    </li>`,
                )}
              </ol>
              <h3>Left out</h3>
              ${
                answer.excluded.length === 0
                  ? html`<p class="muted">
                      Nothing left out${params.limit === '' ? '' : ' (instances past the limit are not listed)'}.
                    </p>`
                  : html`<ul class="excluded" data-testid="excluded">
                      ${answer.excluded.map(
                        (entry) =>
                          html`<li data-id=${entry.id} data-reason=${entry.reason}>
                            ${entry.id}: <strong>${REASONS[entry.reason] ?? entry.reason}</strong>
                          </li>`,
                      )}
                    </ul>`
              }
            `
      }
      ${
        dns === null
          ? overview.dns.enabled
            ? null
            : html`<p class="muted">DNS is off on this server.</p>`
          : html`
              <h3>DNS answers</h3>
              ${[dns.a, dns.srv].map(
                (preview) =>
                  html`<figure class="dns">
                    <figcaption>${preview.name} ${preview.type} → ${preview.rcode}</figcaption>
                    <pre data-testid=${`dns-${preview.type}`}>
${
                        [...preview.answers, ...preview.additionals]
                          .map((record) => `${record.name} ${record.ttl} IN ${record.type} ${record.data}`)
                          .join('\n') || '(no records)'
                      }</pre>
                  </figure>`,
              )}
            `
      }
    </section>
  `;
}
