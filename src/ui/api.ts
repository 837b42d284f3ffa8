/**
 * The UI's only door to the server: same-origin fetches, with the token (when the user gave
 * one) in the Authorization header. The token lives in this tab's sessionStorage, never in a URL.
 */
export type Status = 'passing' | 'warning' | 'critical';

export interface ServiceRow {
  name: string;
  index: number;
  instances: number;
  passing: number;
  warning: number;
  critical: number;
  tags: string[];
  changedAt: number | null;
  /** What a query without `lb` gets: the service's own config, or the server's lb.default. */
  strategy: string;
  strategyFrom: 'service' | 'server';
}

export interface Overview {
  index: number;
  defaultStrategy: string;
  strategies: string[];
  dns: { enabled: boolean; domain: string };
  clustered: boolean;
  auth: { writes: boolean; reads: boolean };
  routes: { maintenance: boolean };
  services: ServiceRow[];
  /** The detail of the service the tab shows, carried by the same stream. */
  detail?: ServiceDetail;
}

export interface Check {
  id: string;
  name: string;
  type: string;
  status: Status;
  note: string;
  statusChangedAt: number;
}

export interface Instance {
  id: string;
  name: string;
  address: string;
  port: number;
  tags: string[];
  meta: Record<string, string>;
  weight: number;
  region: string | null;
  zone: string | null;
  status: Status;
  checks?: Check[];
}

export interface StatusChange {
  at: number;
  index: number | null;
  service: string;
  instanceId: string;
  kind: string;
  checkId: string | null;
  from: Status | null;
  to: Status | null;
  note: string;
}

export interface ServiceDetail {
  name: string;
  index: number;
  instances: Instance[];
  history: StatusChange[];
  /** Cluster mode: the node that runs each check (for a TTL check, keeps its deadline); null when alone. */
  owners: { checkId: string; node: string | null }[] | null;
}

export interface Explained {
  instances: Instance[];
  excluded: { id: string; reason: string; instance: Instance }[];
  strategy: string;
  panic: boolean;
  index: number;
}

export interface DnsRecord {
  name: string;
  type: string;
  ttl: number;
  data: string;
}

export interface DnsPreview {
  name: string;
  type: string;
  rcode: string;
  truncated: boolean;
  answers: DnsRecord[];
  additionals: DnsRecord[];
}

export interface Distribution {
  strategy: string;
  sampling: 'keys' | 'window';
  samples: number;
  panic: boolean;
  instances: { id: string; weight: number; weightShare: number; first: number; share: number }[];
}

export interface ClusterState {
  clustered: boolean;
  index: number;
  members: { name: string; http: string; dns: string | null; version: string; startedAt: number }[];
  etcdLeader: string | null;
  etcdMembers: string[];
  contact: {
    knownLeader: boolean;
    lastContactMs: number;
    storeRevision: number;
    viewRevision: number;
    lagRevisions: number;
  } | null;
  checks: CheckSpread | null;
}

export interface CheckCounts {
  http: number;
  tcp: number;
  ttl: number;
}

export interface CheckSpread {
  members: string[] | null;
  nodes: ({ node: string } & CheckCounts)[];
  unplaced: CheckCounts;
}

/** A refusal from the server, in its `{ error: { code, message } }` shape. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const TOKEN_KEY = 'konsul.token';

export function token(): string | null {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(value: string | null): void {
  if (value === null || value === '') sessionStorage.removeItem(TOKEN_KEY);
  else sessionStorage.setItem(TOKEN_KEY, value);
}

export async function request<T>(method: string, path: string, signal?: AbortSignal): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  const current = token();
  if (current !== null) headers.authorization = `Bearer ${current}`;
  const response = await fetch(path, { method, headers, ...(signal === undefined ? {} : { signal }) });
  const body = (await response.json().catch(() => null)) as unknown;
  if (!response.ok) {
    const error = (body as { error?: { code?: string; message?: string } } | null)?.error;
    throw new ApiError(response.status, error?.code ?? 'http_error', error?.message ?? `HTTP ${response.status}`);
  }
  return body as T;
}

export const get = <T>(path: string, signal?: AbortSignal): Promise<T> => request<T>('GET', path, signal);

/** `?a=1&b=2` from the defined, non-empty values; an array repeats its key. */
export function query(params: Record<string, string | number | boolean | string[] | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    for (const one of Array.isArray(value) ? value : [value])
      if (one !== undefined && one !== '') search.append(key, String(one));
  }
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}
