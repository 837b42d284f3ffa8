/**
 * Konsul's web UI: one page, hash routes, and one blocking query per tab on /ui/api/overview
 * that every view reads (the catalog's watch sets wake it; nothing polls the catalog).
 */
import { html, render } from 'htm/preact';
import { useEffect, useState } from 'preact/hooks';
import { ApiError, get, query, setToken, token, type Overview } from './api.js';
import { ClusterView } from './views/cluster.js';
import { ServiceView } from './views/service.js';
import { ServicesView } from './views/services.js';
import { TokenForm } from './views/token.js';

/** How long one blocking query waits on the server before it is asked again. */
const WAIT = '30s';
/** After a failed read, wait this long before the next (one request at a time: the stream stays bounded). */
const RETRY_MS = 2000;

type Route = { view: 'services' } | { view: 'service'; name: string } | { view: 'cluster' };

function routeOf(hash: string): Route {
  const service = /^#\/service\/([A-Za-z0-9-]{1,63})$/.exec(hash);
  if (service !== null) return { view: 'service', name: service[1].toLowerCase() };
  if (hash === '#/cluster') return { view: 'cluster' };
  return { view: 'services' };
}

function useRoute(): Route {
  const [route, setRoute] = useState(routeOf(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(routeOf(location.hash));
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

/** The tab's single live stream: a blocking query that returns when the catalog index moves. */
function useOverview(
  tokenVersion: number,
  service: string | undefined,
): { overview: Overview | null; error: ApiError | null } {
  const [overview, setOverview] = useState<Overview | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  useEffect(() => {
    const abort = new AbortController();
    // A function, so the compiler does not take the loop's first check as true forever.
    const stopped = () => abort.signal.aborted;
    let index = 0;
    const loop = async () => {
      while (!abort.signal.aborted) {
        try {
          const next = await get<Overview>(
            `/ui/api/overview${query({ index: index === 0 ? undefined : index, wait: WAIT, service })}`,
            abort.signal,
          );
          // An index that went back (a restarted server) starts the watch over.
          index = next.index < index ? 0 : next.index;
          setOverview(next);
          setError(null);
        } catch (caught) {
          if (stopped()) return;
          setError(caught instanceof ApiError ? caught : new ApiError(0, 'network', String(caught)));
          if (caught instanceof ApiError && (caught.status === 401 || caught.status === 403)) return;
          await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
        }
      }
    };
    void loop();
    return () => abort.abort();
  }, [tokenVersion, service]);
  return { overview, error };
}

function App() {
  const route = useRoute();
  const [tokenVersion, setTokenVersion] = useState(0);
  const { overview, error } = useOverview(tokenVersion, route.view === 'service' ? route.name : undefined);
  const signedIn = token() !== null;
  const onToken = (value: string | null) => {
    setToken(value);
    setTokenVersion((version) => version + 1);
  };
  const needsToken = error !== null && (error.status === 401 || error.status === 403);
  let body;
  if (needsToken)
    body = html`<${TokenForm} onToken=${onToken} refused=${error.status === 403} why="This server protects reads." />`;
  else if (overview === null)
    body = html`<p class="loading" role="status">
      ${error === null ? 'Loading…' : `Cannot reach the server: ${error.message}`}
    </p>`;
  else if (route.view === 'service')
    body = html`<${ServiceView} name=${route.name} overview=${overview} signedIn=${signedIn} />`;
  else if (route.view === 'cluster') body = html`<${ClusterView} overview=${overview} />`;
  else body = html`<${ServicesView} overview=${overview} />`;
  return html`
    <header class="top">
      <a class="brand" href="#/">Konsul</a>
      <nav aria-label="Views">
        <a href="#/" aria-current=${route.view === 'services' ? 'page' : undefined}>Services</a>
        ${
          overview?.clustered === true
            ? html`<a href="#/cluster" aria-current=${route.view === 'cluster' ? 'page' : undefined}>Cluster</a>`
            : null
        }
      </nav>
      <div class="auth">
        ${
          signedIn
            ? html`<span class="pill">token set</span>
                <button type="button" onClick=${() => onToken(null)}>Forget token</button>`
            : needsToken
              ? null
              : html`<details class="signin">
                  <summary>Sign in</summary>
                  <${TokenForm}
                    onToken=${onToken}
                    refused=${false}
                    why="Writes (deregister, maintenance) need the token."
                  />
                </details>`
        }
      </div>
    </header>
    ${
      error !== null && overview !== null && !needsToken
        ? html`<p class="banner" role="alert">Live updates paused: ${error.message}; retrying.</p>`
        : null
    }
    <main>${body}</main>
  `;
}

const root = document.getElementById('app')!;
// Preact renders beside what is there: the static "Loading" line goes first.
root.textContent = '';
render(html`<${App} />`, root);
