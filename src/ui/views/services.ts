import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import type { Overview, ServiceRow } from '../api.js';
import { when } from '../format.js';

type HealthFilter = 'all' | 'healthy' | 'warning' | 'critical';

function matches(row: ServiceRow, name: string, tag: string, health: HealthFilter): boolean {
  if (name !== '' && !row.name.includes(name.toLowerCase())) return false;
  if (tag !== '' && !row.tags.includes(tag)) return false;
  if (health === 'healthy') return row.warning === 0 && row.critical === 0;
  if (health === 'warning') return row.warning > 0;
  if (health === 'critical') return row.critical > 0;
  return true;
}

/** Every service with its counts by health, updated live by the tab's overview stream. */
export function ServicesView({ overview }: { overview: Overview }) {
  const [name, setName] = useState('');
  const [tag, setTag] = useState('');
  const [health, setHealth] = useState<HealthFilter>('all');
  const rows = overview.services.filter((row) => matches(row, name, tag, health));
  const value = (event: Event) => (event.target as HTMLInputElement).value;
  return html`
    <h1>Services</h1>
    <form class="filters" role="search" onSubmit=${(event: Event) => event.preventDefault()}>
      <label>Name <input type="search" value=${name} onInput=${(e: Event) => setName(value(e))} /></label>
      <label>Tag <input type="search" value=${tag} onInput=${(e: Event) => setTag(value(e))} /></label>
      <label
        >Health
        <select value=${health} onChange=${(e: Event) => setHealth(value(e) as HealthFilter)}>
          <option value="all">all</option>
          <option value="healthy">all passing</option>
          <option value="warning">with warnings</option>
          <option value="critical">with critical</option>
        </select>
      </label>
    </form>
    <p class="muted" aria-live="polite">
      ${rows.length} of ${overview.services.length} services · catalog index ${overview.index}
    </p>
    <div class="scroll">
      <table class="services">
        <caption class="sr-only">
          Services and their instances by health
        </caption>
        <thead>
          <tr>
            <th scope="col">Service</th>
            <th scope="col">Passing</th>
            <th scope="col">Warning</th>
            <th scope="col">Critical</th>
            <th scope="col">Tags</th>
            <th scope="col">Strategy</th>
            <th scope="col">Last change</th>
          </tr>
        </thead>
        <tbody>
          ${rows.map(
            (row) => html`
              <tr key=${row.name} data-service=${row.name}>
                <th scope="row"><a href=${`#/service/${row.name}`}>${row.name}</a></th>
                <td class="count passing" data-count="passing">${row.passing}</td>
                <td class="count warning" data-count="warning">${row.warning}</td>
                <td class="count critical" data-count="critical">${row.critical}</td>
                <td>${row.tags.map((tagName) => html`<span class="tag">${tagName}</span> `)}</td>
                <td data-strategy=${row.strategy}>
                  ${row.strategy}
                  <span class="muted"
                    >${row.strategyFrom === 'service' ? ' (service config)' : ' (server default)'}</span
                  >
                </td>
                <td>${row.changedAt === null ? `index ${row.index}` : when(row.changedAt)}</td>
              </tr>
            `,
          )}
        </tbody>
      </table>
    </div>
  `;
}
