import { MAINTENANCE_CHECK_NAME, maintenanceCheckId } from '../../catalog/maintenance.js';
import type { Check, CheckInput, Instance, Registration } from '../../catalog/types.js';
import { ConsulHttpError } from './errors.js';
import type { ConsulNode } from './node.js';
import {
  type ConsulAgentService,
  type ConsulCatalogService,
  type ConsulCheckBody,
  type ConsulHealthCheck,
  type ConsulNodeEntry,
  type ConsulNodeService,
  type ConsulRegistrationBody,
  type ConsulServiceEntry,
} from './schemas.js';

/**
 * Translation between Consul's shapes and the catalog's. Every Consul write becomes a
 * Registration the catalog normalizes exactly as it does for Konsul's own routes, and every
 * Consul read is a view of catalog instances: one core, two faces.
 */

/** Konsul's weight range (the strategies' weight tables assume it). */
const MAX_WEIGHT = 1000;
const IPV4_MAPPED = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/** Check kinds Consul runs that Konsul does not; naming them beats a silently missing check. */
const UNSUPPORTED_CHECK_FIELDS = [
  'Args',
  'ScriptArgs',
  'Script',
  'DockerContainerID',
  'Shell',
  'GRPC',
  'H2PING',
  'UDP',
  'OSService',
  'AliasNode',
  'AliasService',
] as const;

/**
 * A Consul service registration as a catalog Registration. `clientAddress` stands in for a missing
 * Address: Consul would use its agent's node address, and the agent runs on the service's host.
 */
export function registrationFromConsul(body: ConsulRegistrationBody, clientAddress: string): Registration {
  // The schema has checked the name's form (the shared ServiceName rule); only absence is left.
  const name = body.Name;
  if (name === undefined) throw ConsulHttpError.missingServiceName();
  refuseUnsupportedServiceFields(body);
  const address = body.Address === undefined || body.Address === '' ? unmapIpv4(clientAddress) : body.Address;
  if (address === '0.0.0.0' || address === '::' || address === '[::]')
    throw ConsulHttpError.badRequest('Invalid service address');
  if (body.Port === undefined) throw ConsulHttpError.invalidServicePort();
  const registration: Registration = {
    // Consul's default service ID is the service name (one instance per name per agent node).
    id: body.ID === undefined || body.ID === '' ? name : body.ID,
    name,
    address,
    port: body.Port,
    tags: body.Tags ?? [],
    meta: body.Meta ?? {},
  };
  const weight = weightFromConsul(body.Weights);
  if (weight !== undefined) registration.weight = weight;
  // Consul registers Check before Checks (ServiceDefinition.CheckTypes).
  const checks = [...(body.Check === undefined || body.Check === null ? [] : [body.Check]), ...(body.Checks ?? [])];
  registration.checks = checks.map((check, position) =>
    checkFromConsul(check, name, checks.length === 1 ? 'Check' : `Checks[${position}]`),
  );
  return registration;
}

function refuseUnsupportedServiceFields(body: ConsulRegistrationBody): void {
  if (body.Kind !== undefined && body.Kind !== '' && body.Kind !== 'typical') {
    throw ConsulHttpError.badRequest(
      `Invalid service kind "${body.Kind}": Konsul registers typical services only, not Connect proxies or gateways`,
    );
  }
  if (body.Proxy !== undefined && body.Proxy !== null && Object.keys(body.Proxy).length > 0)
    throw ConsulHttpError.badRequest('Proxy is not supported: Konsul has no service mesh');
  if (body.Connect !== undefined && body.Connect !== null && Object.keys(body.Connect).length > 0)
    throw ConsulHttpError.badRequest('Connect is not supported: Konsul has no service mesh');
  if (body.SocketPath !== undefined && body.SocketPath !== '')
    throw ConsulHttpError.badRequest('SocketPath is not supported: Konsul instances are reached at Address:Port');
  if (body.Ports !== undefined && body.Ports !== null && body.Ports.length > 0)
    throw ConsulHttpError.badRequest('Ports is not supported: a Konsul instance has one Port');
  for (const field of ['Namespace', 'Partition'] as const) {
    const value = body[field];
    if (value !== undefined && value !== '' && value !== 'default') {
      throw ConsulHttpError.badRequest(
        `${field} "${value}" is not supported: Konsul has one ${field.toLowerCase()}, "default"`,
      );
    }
  }
}

function weightFromConsul(weights: ConsulRegistrationBody['Weights']): number | undefined {
  if (weights === undefined || weights === null) return undefined;
  const passing = weights.Passing ?? 0;
  // Consul's structs.ValidateWeights wording, then Konsul's upper bound.
  if (passing <= 0) throw ConsulHttpError.badRequest('Invalid Weights: Passing must be greater than 0');
  if ((weights.Warning ?? 0) < 0)
    throw ConsulHttpError.badRequest('Invalid Weights: Warning must be greater or equal than 0');
  if (passing > MAX_WEIGHT)
    throw ConsulHttpError.badRequest(
      `Invalid Weights: Passing must be at most ${MAX_WEIGHT} in Konsul, got ${passing}`,
    );
  return passing;
}

function checkFromConsul(check: ConsulCheckBody, serviceName: string, field: string): CheckInput {
  for (const name of UNSUPPORTED_CHECK_FIELDS) {
    const value = check[name];
    if (value !== undefined && value !== null && value !== '' && !(Array.isArray(value) && value.length === 0)) {
      throw ConsulHttpError.badRequest(`Invalid check: ${field}.${name}: Konsul runs HTTP, TCP and TTL checks only`);
    }
  }
  if (check.TLSSkipVerify === true)
    throw ConsulHttpError.badRequest(
      `Invalid check: ${field}.TLSSkipVerify: Konsul's HTTPS checks always verify the certificate`,
    );
  if (check.TCPUseTLS === true)
    throw ConsulHttpError.badRequest(`Invalid check: ${field}.TCPUseTLS: Konsul's TCP checks do not speak TLS`);
  if (check.TLSServerName !== undefined && check.TLSServerName !== '')
    throw ConsulHttpError.badRequest(`Invalid check: ${field}.TLSServerName is not supported`);
  if (check.Body !== undefined && check.Body !== '')
    throw ConsulHttpError.badRequest(`Invalid check: ${field}.Body: Konsul's HTTP checks send no body`);

  const common = {
    ...(nonEmpty(check.CheckID) === undefined ? {} : { id: check.CheckID }),
    name: nonEmpty(check.Name) ?? `Service '${serviceName}' check`,
    ...(check.SuccessBeforePassing === undefined ? {} : { successBeforePassing: check.SuccessBeforePassing }),
    ...(check.FailuresBeforeCritical === undefined ? {} : { failuresBeforeCritical: check.FailuresBeforeCritical }),
    ...(nonEmpty(check.DeregisterCriticalServiceAfter) === undefined
      ? {}
      : { deregisterCriticalAfter: check.DeregisterCriticalServiceAfter }),
    ...(nonEmpty(check.Status) === undefined ? {} : { status: check.Status as Check['status'] }),
  };
  const ttl = nonEmpty(check.TTL);
  const http = nonEmpty(check.HTTP);
  const tcp = nonEmpty(check.TCP);
  // Consul's CheckType.Validate order: a TTL makes it a TTL check, whatever else is set.
  if (ttl !== undefined) return { ...common, type: 'ttl', ttl };
  const target = http !== undefined ? { http } : tcp !== undefined ? { tcp } : undefined;
  if (target === undefined) {
    throw ConsulHttpError.badRequest(
      `Invalid check: ${field}: one of TTL, HTTP (with Interval) or TCP (with Interval) is required`,
    );
  }
  const interval = nonEmpty(check.Interval);
  if (interval === undefined)
    throw ConsulHttpError.badRequest(`Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP or UDP checks`);
  const timing = { interval, ...(nonEmpty(check.Timeout) === undefined ? {} : { timeout: check.Timeout }) };
  if ('http' in target) {
    const method = nonEmpty(check.Method);
    const headers = headersFromConsul(check.Header);
    return {
      ...common,
      ...timing,
      type: 'http',
      http: target.http,
      ...(method === undefined ? {} : { method }),
      ...(headers === undefined ? {} : { headers }),
    };
  }
  return { ...common, ...timing, type: 'tcp', tcp: target.tcp };
}

/** Consul sends each header as a list; repeated values fold into one field (RFC 9110 §5.3). */
function headersFromConsul(header: ConsulCheckBody['Header']): Record<string, string> | undefined {
  if (header === undefined || header === null) return undefined;
  const entries = Object.entries(header).filter(([, values]) => values.length > 0);
  return entries.length === 0
    ? undefined
    : Object.fromEntries(entries.map(([name, values]) => [name, values.join(', ')]));
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

function unmapIpv4(address: string): string {
  return IPV4_MAPPED.exec(address)?.[1] ?? address;
}

// ---- reads ---------------------------------------------------------------------------------

/** Konsul keeps one weight; Consul's Warning weight reads back as Consul's default, 1. */
function weightsOf(instance: Instance): ConsulAgentService['Weights'] {
  return { Passing: instance.weight, Warning: 1 };
}

export function agentService(instance: Instance, node: ConsulNode): ConsulAgentService {
  return {
    ID: instance.id,
    Service: instance.name,
    Tags: instance.tags,
    Meta: instance.meta,
    Port: instance.port,
    Address: instance.address,
    Weights: weightsOf(instance),
    EnableTagOverride: false,
    Datacenter: node.datacenter,
  };
}

export function nodeService(instance: Instance): ConsulNodeService {
  return {
    ID: instance.id,
    Service: instance.name,
    Tags: instance.tags,
    Address: instance.address,
    Meta: instance.meta,
    Port: instance.port,
    Weights: weightsOf(instance),
    EnableTagOverride: false,
    CreateIndex: instance.createIndex,
    ModifyIndex: instance.modifyIndex,
  };
}

export function catalogService(instance: Instance, node: ConsulNode): ConsulCatalogService {
  return {
    ID: node.id,
    Node: node.name,
    Address: node.address,
    Datacenter: node.datacenter,
    TaggedAddresses: taggedAddresses(node),
    NodeMeta: {},
    ServiceKind: '',
    ServiceID: instance.id,
    ServiceName: instance.name,
    ServiceTags: instance.tags,
    ServiceAddress: instance.address,
    ServiceWeights: weightsOf(instance),
    ServiceMeta: instance.meta,
    ServicePort: instance.port,
    ServiceEnableTagOverride: false,
    CreateIndex: instance.createIndex,
    ModifyIndex: instance.modifyIndex,
  };
}

export function consulNodeEntry(node: ConsulNode): ConsulNodeEntry {
  // The node exists from the first index on; it never changes.
  return {
    ID: node.id,
    Node: node.name,
    Address: node.address,
    Datacenter: node.datacenter,
    TaggedAddresses: taggedAddresses(node),
    Meta: {},
    CreateIndex: 1,
    ModifyIndex: 1,
  };
}

function taggedAddresses(node: ConsulNode): Record<string, string> {
  return { lan: node.address, lan_ipv4: node.address, wan: node.address, wan_ipv4: node.address };
}

export function healthCheck(check: Check, instance: Instance, node: ConsulNode): ConsulHealthCheck {
  const definition: ConsulHealthCheck['Definition'] = {};
  if (check.http !== undefined) definition.HTTP = check.http;
  if (check.method !== undefined) definition.Method = check.method;
  if (check.headers !== undefined)
    definition.Header = Object.fromEntries(Object.entries(check.headers).map(([name, value]) => [name, [value]]));
  if (check.tcp !== undefined) definition.TCP = check.tcp;
  if (check.ttl !== undefined) definition.TTL = check.ttl;
  if (check.interval !== undefined) definition.Interval = check.interval;
  if (check.timeout !== undefined) definition.Timeout = check.timeout;
  if (check.deregisterCriticalAfter !== undefined)
    definition.DeregisterCriticalServiceAfter = check.deregisterCriticalAfter;
  return {
    Node: node.name,
    CheckID: check.id,
    Name: check.name,
    Status: check.status,
    Notes: '',
    Output: check.note,
    ServiceID: instance.id,
    ServiceName: instance.name,
    ServiceTags: instance.tags,
    Type: check.type,
    Interval: check.interval ?? '',
    Timeout: check.timeout ?? '',
    ExposedPort: 0,
    Definition: definition,
    CreateIndex: instance.createIndex,
    ModifyIndex: instance.modifyIndex,
  };
}

/**
 * Consul lists the agent's serfHealth check with every node. Konsul's node is the server
 * answering, so the check is passing whenever there is anyone to report it.
 */
export function nodeHealthCheck(node: ConsulNode): ConsulHealthCheck {
  return {
    Node: node.name,
    CheckID: 'serfHealth',
    Name: 'Serf Health Status',
    Status: 'passing',
    Notes: '',
    Output: 'Agent alive and reachable',
    ServiceID: '',
    ServiceName: '',
    ServiceTags: [],
    Type: '',
    Interval: '',
    Timeout: '',
    ExposedPort: 0,
    Definition: {},
    CreateIndex: 1,
    ModifyIndex: 1,
  };
}

export function serviceEntry(instance: Instance, node: ConsulNode): ConsulServiceEntry {
  return {
    Node: consulNodeEntry(node),
    Service: nodeService(instance),
    Checks: [...instanceChecks(instance, node), nodeHealthCheck(node)],
  };
}

/** An instance's checks as Consul lists them: its own, then the maintenance check while it is held out. */
export function instanceChecks(instance: Instance, node: ConsulNode): ConsulHealthCheck[] {
  const checks = instance.checks.map((check) => healthCheck(check, instance, node));
  if (instance.maintenance !== undefined) checks.push(maintenanceCheck(instance, node));
  return checks;
}

/** Consul's critical `_service_maintenance:<id>` check (agent.go EnableServiceMaintenance). */
export function maintenanceCheck(instance: Instance, node: ConsulNode): ConsulHealthCheck {
  return {
    Node: node.name,
    CheckID: maintenanceCheckId(instance.id),
    Name: MAINTENANCE_CHECK_NAME,
    Status: 'critical',
    Notes: instance.maintenance?.reason ?? '',
    Output: '',
    ServiceID: instance.id,
    ServiceName: instance.name,
    ServiceTags: instance.tags,
    Type: 'maintenance',
    Interval: '',
    Timeout: '',
    ExposedPort: 0,
    Definition: {},
    CreateIndex: instance.modifyIndex,
    ModifyIndex: instance.modifyIndex,
  };
}
