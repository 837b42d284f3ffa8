import { html } from 'htm/preact';
import { useState } from 'preact/hooks';
import { ApiError, request, type Instance, type Overview } from '../api.js';
import { statusLabel, when } from '../format.js';
import { DistributionPanel } from './distribution.js';
import { useCheckOwners } from './owners.js';
import { ResolvePanel } from './resolve.js';

interface Props {
  name: string;
  overview: Overview;
  signedIn: boolean;
}

/** One service: instances with their checks, the status timeline, resolve and distribution. */
export function ServiceView({ name, overview, signedIn }: Props) {
  const row = overview.services.find((service) => service.name === name);
  // The tab's one stream carries this service's detail (overview?service=), fresh with every change.
  const version = row?.index ?? overview.index;
  // Until the stream restarts for this page, the last answer may carry another service.
  const detail = overview.detail?.name === name ? overview.detail : null;
  const [message, setMessage] = useState('');
  const canWrite = signedIn || !overview.auth.writes;
  // The stream's detail carries the owners as of the last catalog change; a member joining or
  // leaving changes them without one, so in a cluster they are also read again every few seconds.
  const polled = useCheckOwners(name, overview.clustered, version);
  const carried = detail?.owners == null ? null : detail.owners.map((owner) => [owner.checkId, owner.node] as const);
  const owners = carried === null && polled === null ? null : new Map([...(carried ?? []), ...(polled ?? [])]);

  const act = async (label: string, method: string, path: string, body?: unknown) => {
    setMessage(`${label}…`);
    try {
      if (body === undefined) await request(method, path);
      else await sendJson(method, path, body);
      setMessage(`${label}: done.`);
    } catch (error) {
      const refused = error instanceof ApiError && (error.status === 401 || error.status === 403);
      setMessage(
        `${label}: refused${refused ? ' (the token is missing or not valid)' : ''}: ${String((error as Error).message)}`,
      );
    }
  };

  if (detail === null)
    return html`<h1>${name}</h1>
      <p role="status">${message === '' ? 'Loading…' : message}</p>`;
  return html`
    <h1>${name}</h1>
    <p class="muted">
      ${`${detail.instances.length} instances · service index ${detail.index}`}
      ${row === undefined ? ' · no instances left' : ''}
    </p>
    <p class="status-line" role="status" aria-live="polite">${message}</p>
    <h2>Instances</h2>
    <ul class="instances">
      ${detail.instances.map(
        (instance) =>
          html`<${InstanceCard}
            key=${instance.id}
            instance=${instance}
            canWrite=${canWrite}
            owners=${owners}
            maintenance=${overview.routes.maintenance}
            act=${act}
          />`,
      )}
    </ul>
    <div class="panels">
      <${ResolvePanel} name=${name} overview=${overview} version=${version} />
      <${DistributionPanel} name=${name} overview=${overview} version=${version} />
    </div>
    <h2>Status changes</h2>
    ${
      detail.history.length === 0
        ? html`<p class="muted">No status change recorded since the server started.</p>`
        : html`<ol class="timeline">
            ${detail.history.map(
              (change) =>
                html`<li class=${`to-${change.to ?? 'gone'}`}>
                  <time datetime=${new Date(change.at).toISOString()}>${when(change.at)}</time>
                  <span>
                    <strong>${change.instanceId}</strong>
                    ${` ${change.checkId === null ? change.kind : `check ${change.checkId}`}: `}
                    ${`${statusLabel(change.from)} → ${statusLabel(change.to)}`}
                  </span>
                  ${change.note === '' ? null : html`<span class="note">${change.note}</span>`}
                </li>`,
            )}
          </ol>`
    }
  `;
}

async function sendJson(method: string, path: string, body: unknown): Promise<void> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  const current = sessionStorage.getItem('konsul.token');
  if (current !== null) headers.authorization = `Bearer ${current}`;
  const response = await fetch(path, { method, headers, body: JSON.stringify(body) });
  if (!response.ok) {
    const error = ((await response.json().catch(() => null)) as { error?: { code: string; message: string } } | null)
      ?.error;
    throw new ApiError(response.status, error?.code ?? 'http_error', error?.message ?? `HTTP ${response.status}`);
  }
}

interface CardProps {
  instance: Instance & { maintenance?: { reason: string; since: number } };
  canWrite: boolean;
  /** Cluster mode: check id to the node that runs it; null when the server runs alone. */
  owners: Map<string, string | null> | null;
  maintenance: boolean;
  act: (label: string, method: string, path: string, body?: unknown) => Promise<void>;
}

/** Who runs a check in a cluster: one node probes HTTP/TCP; a TTL check's heartbeats go to any node. */
function runBy(type: string, node: string | null) {
  const name = html`<span class="node">${node ?? 'no live node'}</span>`;
  return type === 'ttl' ? html`heartbeats to any node; deadline kept by ${name}` : name;
}

function InstanceCard({ instance, canWrite, owners, maintenance, act }: CardProps) {
  const path = `/catalog/instances/${encodeURIComponent(instance.id)}`;
  const inMaintenance = instance.maintenance !== undefined;
  return html`
    <li class=${`instance is-${instance.status}`} data-instance=${instance.id}>
      <div class="instance-head">
        <strong>${instance.id}</strong>
        <span class=${`badge ${instance.status}`} data-status=${instance.status}>${statusLabel(instance.status)}</span>
        ${inMaintenance ? html`<span class="badge maintenance">in maintenance: ${instance.maintenance?.reason}</span>` : null}
      </div>
      <dl class="facts">
        <dt>Address</dt>
        <dd>${instance.address}:${instance.port}</dd>
        <dt>Weight</dt>
        <dd>${instance.weight}</dd>
        <dt>Region / zone</dt>
        <dd>${instance.region ?? '—'} / ${instance.zone ?? '—'}</dd>
        <dt>Tags</dt>
        <dd>${instance.tags.length === 0 ? '—' : instance.tags.join(', ')}</dd>
        <dt>Meta</dt>
        <dd>
          ${
            Object.entries(instance.meta)
              .map(([key, value]) => `${key}=${value}`)
              .join(', ') || '—'
          }
        </dd>
      </dl>
      ${
        (instance.checks ?? []).length === 0
          ? html`<p class="muted">No checks: passing while registered.</p>`
          : html`<table class="checks">
              <caption class="sr-only">
                Checks of ${instance.id}
              </caption>
              <thead>
                <tr>
                  <th scope="col">Check</th>
                  <th scope="col">Status</th>
                  <th scope="col">Output</th>
                  <th scope="col">Since</th>
                  ${owners === null ? null : html`<th scope="col">Run by</th>`}
                </tr>
              </thead>
              <tbody>
                ${(instance.checks ?? []).map(
                  (check) =>
                    html`<tr key=${check.id} data-check=${check.id}>
                      <th scope="row">${check.name} <span class="muted">(${check.type})</span></th>
                      <td class=${check.status}>${statusLabel(check.status)}</td>
                      <td class="note">${check.note === '' ? '—' : check.note}</td>
                      <td>${when(check.statusChangedAt)}</td>
                      ${
                        owners === null
                          ? null
                          : html`<td data-run-by=${owners.get(check.id) ?? ''}>
                              ${runBy(check.type, owners.get(check.id) ?? null)}
                            </td>`
                      }
                    </tr>`,
                )}
              </tbody>
            </table>`
      }
      ${
        canWrite
          ? html`<div class="actions">
              <button
                type="button"
                class="danger"
                onClick=${() => void act(`Deregister ${instance.id}`, 'DELETE', path)}
              >
                Deregister
              </button>
              ${
                maintenance
                  ? html`<button
                      type="button"
                      onClick=${() =>
                        void act(
                          `${inMaintenance ? 'End' : 'Start'} maintenance of ${instance.id}`,
                          'PUT',
                          `${path}/maintenance`,
                          inMaintenance ? { enable: false } : { enable: true, reason: 'set from the web UI' },
                        )}
                    >
                      ${inMaintenance ? 'End maintenance' : 'Start maintenance'}
                    </button>`
                  : null
              }
            </div>`
          : null
      }
    </li>
  `;
}
