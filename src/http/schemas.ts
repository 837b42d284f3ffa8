import { Type, type Static, type TSchema } from 'typebox';
import { ID_MAX_LENGTH } from '../catalog/registration.js';
import { DURATION_PATTERN } from '../duration.js';

/** Shared request and response schemas. Routes declare them; validation and serialization follow. */

export const ErrorBody = Type.Object({
  error: Type.Object({ code: Type.String(), message: Type.String() }),
});

/** Response schemas for the error statuses a route can answer with. */
export function withErrors<R extends Record<number, TSchema>>(responses: R) {
  return { ...responses, '4xx': ErrorBody, '5xx': ErrorBody };
}

// ---- field rules --------------------------------------------------------------------------
// The rules for the fields an instance is made of are defined here once. Konsul's own routes and
// the Consul-compatible /v1 face (consul/schemas.ts) both build their schemas from them, so a
// value one face refuses is refused by the other too.

/** A service name is one DNS label (RFC 1035 §2.3.1), so every service is reachable over DNS. */
export const SERVICE_NAME_PATTERN = '^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$';
export const ServiceName = Type.String({
  pattern: SERVICE_NAME_PATTERN,
  minLength: 1,
  maxLength: 63,
  description: 'DNS label, case-insensitive',
});
/** Ids travel in URL paths, so they keep to characters no client escapes differently. */
const ID_PATTERN = '^[A-Za-z0-9._:@~+=\\[\\]-]+$';
export const InstanceId = Type.String({ minLength: 1, maxLength: ID_MAX_LENGTH, pattern: ID_PATTERN });
export const CheckId = Type.String({ minLength: 1, maxLength: ID_MAX_LENGTH, pattern: ID_PATTERN });
/**
 * Characters a printable text field refuses: C0 and C1 controls and DEL, and lone UTF-16
 * surrogates (`"\ud800"` is valid JSON but no character: it cannot be written as UTF-8).
 * Ajv compiles patterns with the `u` flag, so a surrogate pair (an emoji) is one code point
 * above U+FFFF and passes.
 */
const NOT_PRINTABLE = '\\u0000-\\u001f\\u007f-\\u009f\\ud800-\\udfff';
/** Text shown to people (tags, check names): at least one character, none of them unprintable. */
export const Printable = (maxLength: number) =>
  Type.String({ minLength: 1, maxLength, pattern: `^[^${NOT_PRINTABLE}]+$` });
/** The same rule for text that may be empty (notes, meta values). */
export const PrintableOrEmpty = (maxLength: number) => Type.String({ maxLength, pattern: `^[^${NOT_PRINTABLE}]*$` });
export const Tag = Printable(255);
export const Tags = Type.Array(Tag, { maxItems: 64 });
export const MetaKey = Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$' });
export const MetaValue = PrintableOrEmpty(512);
export const Meta = Type.Record(MetaKey, MetaValue, { additionalProperties: false, maxProperties: 64 });
/** An IP address or a hostname; normalizeRegistration decides which and refuses anything else. */
export const Address = Type.String({ minLength: 1, maxLength: 253 });
export const Port = Type.Integer({ minimum: 1, maximum: 65535 });
/** A meta filter of a service query: `key:value`, with the key and value rules above. */
const META_FILTER_PATTERN = `^[A-Za-z0-9_-]{1,128}:[^${NOT_PRINTABLE}]{0,512}$`;

/** A URL or host:port may not carry controls either (a NUL or CR/LF would reach the check's request). */
const NO_CONTROLS = '^[^\\u0000-\\u001f\\u007f-\\u009f]+$';
/** X-Konsul-Index values are integers JSON and JavaScript carry exactly. */
const Index = Type.Integer({ minimum: 0, maximum: Number.MAX_SAFE_INTEGER });
export const Duration = Type.String({ pattern: DURATION_PATTERN, maxLength: 64 });
const HealthStatus = Type.Union([Type.Literal('passing'), Type.Literal('warning'), Type.Literal('critical')]);
const Region = Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.-]+$' });

// What an HTTP header value can carry (RFC 9110 §5.5): tab, visible ASCII and obs-text bytes.
export const HEADER_VALUE = '^[\\t\\u0020-\\u007e\\u0080-\\u00ff]*$';
/** A header field name is a token (RFC 9110 §5.1). */
export const HeaderName = Type.String({ pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$" });
export const HeaderValue = Type.String({ maxLength: 4096, pattern: HEADER_VALUE });
export const CheckName = Printable(256);
export const CheckNotes = PrintableOrEmpty(4096);
export const HttpCheckUrl = Type.String({ minLength: 1, maxLength: 2048, pattern: NO_CONTROLS });
export const HttpCheckMethod = Type.String({ pattern: '^[A-Za-z]{1,16}$' });
export const TcpCheckTarget = Type.String({ minLength: 3, maxLength: 300, pattern: NO_CONTROLS });
export const CheckThreshold = Type.Integer({ minimum: 0, maximum: 100 });

export const CheckInputSchema = Type.Object(
  {
    id: Type.Optional(CheckId),
    name: Type.Optional(CheckName),
    type: Type.Union([Type.Literal('http'), Type.Literal('tcp'), Type.Literal('ttl')]),
    http: Type.Optional(HttpCheckUrl),
    method: Type.Optional(HttpCheckMethod),
    headers: Type.Optional(Type.Record(HeaderName, HeaderValue, { additionalProperties: false, maxProperties: 32 })),
    tcp: Type.Optional(TcpCheckTarget),
    ttl: Type.Optional(Duration),
    interval: Type.Optional(Duration),
    timeout: Type.Optional(Duration),
    successBeforePassing: Type.Optional(CheckThreshold),
    failuresBeforeCritical: Type.Optional(CheckThreshold),
    deregisterCriticalAfter: Type.Optional(Duration),
    status: Type.Optional(HealthStatus),
  },
  { additionalProperties: false },
);

export const RegistrationSchema = Type.Object(
  {
    id: Type.Optional(InstanceId),
    name: ServiceName,
    address: Address,
    port: Port,
    tags: Type.Optional(Tags),
    meta: Type.Optional(Meta),
    weight: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
    region: Type.Optional(Region),
    zone: Type.Optional(Region),
    checks: Type.Optional(Type.Array(CheckInputSchema, { maxItems: 32 })),
  },
  { additionalProperties: false },
);
export type RegistrationBody = Static<typeof RegistrationSchema>;

/** An instance as a service query lists it. */
export const InstanceSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  address: Type.String(),
  port: Type.Integer(),
  tags: Type.Array(Type.String()),
  meta: Type.Record(Type.String(), Type.String()),
  weight: Type.Integer(),
  region: Type.Union([Type.String(), Type.Null()]),
  zone: Type.Union([Type.String(), Type.Null()]),
  status: HealthStatus,
});

export const CheckSchema = Type.Object({
  id: Type.String(),
  name: Type.String(),
  type: Type.String(),
  instanceId: Type.String(),
  status: HealthStatus,
  note: Type.String(),
  statusChangedAt: Type.Integer({ description: 'epoch milliseconds' }),
  http: Type.Optional(Type.String()),
  method: Type.Optional(Type.String()),
  tcp: Type.Optional(Type.String()),
  ttl: Type.Optional(Type.String()),
  interval: Type.Optional(Type.String()),
  timeout: Type.Optional(Type.String()),
  successBeforePassing: Type.Integer(),
  failuresBeforeCritical: Type.Integer(),
  deregisterCriticalAfter: Type.Optional(Type.String()),
});

/** Why and since when an instance is held out of answers. */
export const MaintenanceSchema = Type.Object({
  reason: Type.String(),
  since: Type.Integer({ description: 'epoch milliseconds' }),
});

/** One instance in full: what a query lists plus its checks and indexes. */
export const InstanceDetailSchema = Type.Object({
  ...InstanceSchema.properties,
  maintenance: Type.Optional(MaintenanceSchema),
  checks: Type.Array(CheckSchema),
  createIndex: Type.Integer(),
  modifyIndex: Type.Integer(),
});

export const WriteResultSchema = Type.Object({ id: Type.String(), index: Type.Integer() });

export const IdParams = Type.Object({ id: InstanceId });
export const NameParams = Type.Object({ name: ServiceName });

/** Query parameters every service query takes: filters, load balancing and blocking. */
export const ServiceQuerySchema = Type.Object(
  {
    tag: Type.Optional(Tags),
    meta: Type.Optional(Type.Array(Type.String({ pattern: META_FILTER_PATTERN }), { maxItems: 64 })),
    lb: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000 })),
    'client-ip': Type.Optional(Type.String({ minLength: 2, maxLength: 64 })),
    'session-key': Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    'client-region': Type.Optional(Region),
    'health-filter': Type.Optional(Type.Boolean()),
    passing: Type.Optional(Type.Boolean()),
    index: Type.Optional(Index),
    wait: Type.Optional(Duration),
    explain: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);
export type ServiceQuery = Static<typeof ServiceQuerySchema>;

/** A service query with `explain=true`: the same answer, and why every other instance is not in it. */
export const ExplainedAnswerSchema = Type.Object({
  instances: Type.Array(InstanceSchema),
  excluded: Type.Array(
    Type.Object({
      id: Type.String(),
      reason: Type.String({ description: 'tag, meta, maintenance, critical or warning' }),
      instance: InstanceSchema,
    }),
  ),
  strategy: Type.String(),
  panic: Type.Boolean(),
  index: Type.Integer(),
});

export const ServiceListQuerySchema = Type.Object(
  { ...ServiceQuerySchema.properties, name: Type.Optional(ServiceName) },
  { additionalProperties: false },
);
export type ServiceListQuery = Static<typeof ServiceListQuerySchema>;

export const BlockingQuerySchema = Type.Object(
  { index: Type.Optional(Index), wait: Type.Optional(Duration) },
  { additionalProperties: false },
);

export const ServiceSummarySchema = Type.Object({
  name: Type.String(),
  index: Type.Integer(),
  instances: Type.Integer(),
  passing: Type.Integer(),
  warning: Type.Integer(),
  critical: Type.Integer(),
});
