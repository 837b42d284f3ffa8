import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { get, type ClusterState, type Overview } from '../api.js';
import { when } from '../format.js';

/** Watch lag is not a catalog change, so this view alone asks again, every few seconds, while open. */
const REFRESH_MS = 3000;

export function ClusterView({ overview }: { overview: Overview }) {
  const [state, setState] = useState<ClusterState | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    let stopped = false;
    const load = async () => {
      try {
        setState(await get<ClusterState>('/ui/api/cluster'));
        setError(null);
      } catch (caught) {
        setError(String(caught));
      }
      if (!stopped) timer = setTimeout(() => void load(), REFRESH_MS);
    };
    void load();
    return () => {
      stopped = true;
      clearTimeout(timer);
    };
  }, []);
  if (!overview.clustered)
    return html`<h1>Cluster</h1>
      <p>This server runs alone (store.type sqlite).</p>`;
  if (state === null)
    return html`<h1>Cluster</h1>
      <p role="status">${error ?? 'Loading…'}</p>`;
  const contact = state.contact;
  return html`
    <h1>Cluster</h1>
    <dl class="facts">
      <dt>Catalog index (store revision seen)</dt>
      <dd>${state.index}</dd>
      <dt>Store revision</dt>
      <dd>${contact?.storeRevision ?? '—'}</dd>
      <dt>Watch lag</dt>
      <dd>
        ${contact === null ? '—' : `${contact.lagRevisions} revisions; last contact ${contact.lastContactMs} ms ago`}
      </dd>
      <dt>Store leader</dt>
      <dd>${state.etcdLeader ?? 'none known'}</dd>
      <dt>Store members</dt>
      <dd>${state.etcdMembers.join(', ')}</dd>
    </dl>
    <h2>Konsul nodes</h2>
    <div class="scroll">
      <table>
        <thead>
          <tr>
            <th scope="col">Node</th>
            <th scope="col">HTTP</th>
            <th scope="col">DNS</th>
            <th scope="col">Version</th>
            <th scope="col">Started</th>
          </tr>
        </thead>
        <tbody>
          ${state.members.map(
            (member) =>
              html`<tr key=${member.name}>
                <th scope="row">${member.name}</th>
                <td>${member.http}</td>
                <td>${member.dns ?? 'off'}</td>
                <td>${member.version}</td>
                <td>${when(member.startedAt)}</td>
              </tr>`,
          )}
        </tbody>
      </table>
    </div>
  `;
}
