import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { get, query, type Distribution, type Overview } from '../api.js';
import { percent } from '../format.js';
import { serviceDefault } from './resolve.js';

interface Props {
  name: string;
  overview: Overview;
  version: number;
}

const BAR_HEIGHT = 22;
const LABEL_WIDTH = 150;
const CHART_WIDTH = 320;

/** How a strategy spreads this service's traffic, sampled by the server, against the weights. */
export function DistributionPanel({ name, overview, version }: Props) {
  // Empty: the server samples the strategy the service's answers use by default.
  const [strategy, setStrategy] = useState('');
  const [result, setResult] = useState<Distribution | null>(null);
  const [error, setError] = useState('');
  useEffect(() => {
    const abort = new AbortController();
    get<Distribution>(`/ui/api/distribution/${name}${query({ lb: strategy })}`, abort.signal).then(
      (distribution) => {
        setResult(distribution);
        setError('');
      },
      (caught: unknown) => {
        if (!abort.signal.aborted) setError(String((caught as Error).message));
      },
    );
    return () => abort.abort();
  }, [name, strategy, version]);

  const rows = result?.instances ?? [];
  const height = rows.length * BAR_HEIGHT * 2 + 10;
  const max = Math.max(0.0001, ...rows.map((row) => Math.max(row.share, row.weightShare)));
  const scale = (share: number) => (share / max) * CHART_WIDTH;
  return html`
    <section class="panel distribution" aria-labelledby="distribution-title">
      <h2 id="distribution-title">Distribution</h2>
      <label>
        Strategy
        <select value=${strategy} onChange=${(event: Event) => setStrategy((event.target as HTMLSelectElement).value)}>
          <option value="">${serviceDefault(overview, name)}</option>
          ${overview.strategies.map((strategy) => html`<option value=${strategy}>${strategy}</option>`)}
        </select>
      </label>
      ${error === '' ? null : html`<p class="error" role="alert">${error}</p>`}
      ${
        result === null
          ? null
          : html`
              <p class="muted">
                ${
                  result.sampling === 'keys'
                    ? `Share of ${result.samples.toLocaleString('en')} sample keys each instance answers first`
                    : `First-position share over a window of ${result.samples.toLocaleString('en')} queries`
                },
                against its weight share.
              </p>
              <svg
                class="chart"
                role="img"
                aria-label=${`Distribution of ${result.strategy}`}
                viewBox=${`0 0 ${LABEL_WIDTH + CHART_WIDTH + 110} ${height}`}
              >
                ${rows.map((row, i) => {
                  const y = i * BAR_HEIGHT * 2 + 5;
                  return html`<g key=${row.id}>
                    <title>${row.id}: ${percent(row.share)} of answers, weight ${percent(row.weightShare)}</title>
                    <text x="0" y=${y + 15} class="label"
                      >${row.id.length > 20 ? `${row.id.slice(0, 19)}…` : row.id}</text
                    >
                    <rect x=${LABEL_WIDTH} y=${y} width=${scale(row.share)} height=${BAR_HEIGHT - 4} class="bar" />
                    <text x=${LABEL_WIDTH + scale(row.share) + 4} y=${y + 14} class="value">${percent(row.share)}</text>
                    <rect
                      x=${LABEL_WIDTH}
                      y=${y + BAR_HEIGHT - 2}
                      width=${scale(row.weightShare)}
                      height=${BAR_HEIGHT / 2 - 2}
                      class="weight"
                    />
                    <text x=${LABEL_WIDTH + scale(row.weightShare) + 4} y=${y + BAR_HEIGHT + 8} class="value small">
                      weight ${percent(row.weightShare)}
                    </text>
                  </g>`;
                })}
              </svg>
              <table class="sr-only">
                <caption>
                  Distribution of ${result.strategy}
                </caption>
                <thead>
                  <tr>
                    <th scope="col">Instance</th>
                    <th scope="col">Share</th>
                    <th scope="col">Weight share</th>
                  </tr>
                </thead>
                <tbody>
                  ${rows.map(
                    (row) =>
                      html`<tr key=${row.id}>
                        <th scope="row">${row.id}</th>
                        <td>${percent(row.share)}</td>
                        <td>${percent(row.weightShare)}</td>
                      </tr>`,
                  )}
                </tbody>
              </table>
            `
      }
    </section>
  `;
}
