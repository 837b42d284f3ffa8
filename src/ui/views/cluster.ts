import { html } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { get, type CheckCounts, type ClusterState, type Overview } from '../api.js';
import { percent, when } from '../format.js';

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
  const spread = state.checks;
  const countsOf = new Map((spread?.nodes ?? []).map((row) => [row.node, row]));
  const total = (counts: CheckCounts) => counts.http + counts.tcp + counts.ttl;
  const all = (spread?.nodes ?? []).reduce((sum, row) => sum + total(row), 0) + (spread ? total(spread.unplaced) : 0);
  // A node the store lists but the health manager does not count yet (or the reverse) still gets a row.
  const names = [...new Set([...state.members.map((member) => member.name), ...countsOf.keys()])].sort();
  const details = new Map(state.members.map((member) => [member.name, member]));
  return html`
    <h1>Cluster</h1>
    <dl class="facts">
      <dt>Catalog index (store revision seen)</dt>
      <dd data-fact="index">${state.index}</dd>
      <dt>Store revision</dt>
      <dd data-fact="store-revision">${contact?.storeRevision ?? '—'}</dd>
      <dt>Watch lag</dt>
      <dd data-fact="watch-lag">
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
            <th scope="col">HTTP / TCP checks</th>
            <th scope="col">TTL deadlines</th>
            <th scope="col">Share of checks</th>
          </tr>
        </thead>
        <tbody>
          ${names.map((name) => {
            const member = details.get(name);
            const counts = countsOf.get(name);
            return html`<tr key=${name} data-node=${name}>
              <th scope="row">${name}</th>
              <td>${member?.http ?? '—'}</td>
              <td>${member === undefined ? '—' : (member.dns ?? 'off')}</td>
              <td>${member?.version ?? '—'}</td>
              <td>${member === undefined ? '—' : when(member.startedAt)}</td>
              <td data-count="probes">${counts === undefined ? '—' : counts.http + counts.tcp}</td>
              <td data-count="ttl">${counts === undefined ? '—' : counts.ttl}</td>
              <td>${counts === undefined || all === 0 ? '—' : percent(total(counts) / all)}</td>
            </tr>`;
          })}
        </tbody>
      </table>
    </div>
    <p class="muted" data-testid="spread">
      ${
        spread === null || spread.members === null
          ? 'This node runs no checks (health checks are off, or it is not a live member): it cannot tell how they are spread.'
          : `${all} checks spread by rendezvous hashing over ${spread.members.length} live members, as this node's health manager sees them. A TTL check takes heartbeats on any node; the node listed keeps its deadline.`
      }
      ${spread !== null && total(spread.unplaced) > 0 ? ` ${total(spread.unplaced)} checks have no live node.` : ''}
    </p>
  `;
}
