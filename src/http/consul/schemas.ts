import { Type, type Static, type TSchema } from 'typebox';
import { DURATION_PATTERN } from '../../duration.js';
import { CheckId, HEADER_VALUE, InstanceId } from '../schemas.js';

/**
 * Consul's request and response shapes (PascalCase), as JSON Schemas. Request schemas list every
 * field Consul's own API structs declare, so a client that sends a field Konsul ignores still
 * gets through, while a misspelt field is a 400 naming it. Which fields are honoured, ignored or
 * refused is decided in translate.ts and listed in docs/consul-compatibility.md.
 */

/** Go decodes a JSON null into the zero value; Consul clients written in other languages send it. */
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);

const Duration = Type.String({ pattern: DURATION_PATTERN, maxLength: 64 });
const Printable = (maxLength: number) =>
  Type.String({ minLength: 1, maxLength, pattern: '^[^\\u0000-\\u001f\\u007f]+$' });
const NoControl = (maxLength: number) => Type.String({ maxLength, pattern: '^[^\\u0000-\\u001f\\u007f]*$' });
const Meta = Type.Record(Type.String({ pattern: '^[A-Za-z0-9_-]{1,128}$' }), NoControl(512), {
  additionalProperties: false,
  maxProperties: 64,
});

/** Konsul's DNS-label rule; Consul accepts more, so translate.ts words this failure itself. */
export const SERVICE_NAME_PATTERN = '^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$';

/** api.AgentServiceCheck. */
export const ConsulCheckBody = Type.Object(
  {
    CheckID: Type.Optional(CheckId),
    Name: Type.Optional(Printable(256)),
    Notes: Type.Optional(NoControl(4096)),
    Status: Type.Optional(
      Type.Union([Type.Literal('passing'), Type.Literal('warning'), Type.Literal('critical'), Type.Literal('')]),
    ),
    HTTP: Type.Optional(Type.String({ maxLength: 2048 })),
    Method: Type.Optional(Type.String({ pattern: '^[A-Za-z]{0,16}$' })),
    Header: Type.Optional(
      Nullable(
        Type.Record(
          Type.String({ pattern: "^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,128}$" }),
          Type.Array(Type.String({ maxLength: 4096, pattern: HEADER_VALUE }), { maxItems: 16 }),
          {
            additionalProperties: false,
            maxProperties: 32,
          },
        ),
      ),
    ),
    TCP: Type.Optional(Type.String({ maxLength: 300 })),
    TTL: Type.Optional(Type.Union([Duration, Type.Literal('')])),
    Interval: Type.Optional(Type.Union([Duration, Type.Literal('')])),
    Timeout: Type.Optional(Type.Union([Duration, Type.Literal('')])),
    DeregisterCriticalServiceAfter: Type.Optional(Type.Union([Duration, Type.Literal('')])),
    SuccessBeforePassing: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
    FailuresBeforeCritical: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
    FailuresBeforeWarning: Type.Optional(Type.Integer({ minimum: 0, maximum: 100 })),
    // Accepted so Consul clients pass validation; translate.ts refuses the ones Konsul cannot honour.
    Body: Type.Optional(Type.String({ maxLength: 65536 })),
    DisableRedirects: Type.Optional(Type.Boolean()),
    OutputMaxSize: Type.Optional(Type.Integer({ minimum: 0 })),
    TLSServerName: Type.Optional(Type.String({ maxLength: 253 })),
    TLSSkipVerify: Type.Optional(Type.Boolean()),
    TCPUseTLS: Type.Optional(Type.Boolean()),
    Args: Type.Optional(Nullable(Type.Array(Type.String(), { maxItems: 64 }))),
    ScriptArgs: Type.Optional(Nullable(Type.Array(Type.String(), { maxItems: 64 }))),
    Script: Type.Optional(Type.String()),
    DockerContainerID: Type.Optional(Type.String()),
    Shell: Type.Optional(Type.String()),
    GRPC: Type.Optional(Type.String()),
    GRPCUseTLS: Type.Optional(Type.Boolean()),
    H2PING: Type.Optional(Type.String()),
    H2PingUseTLS: Type.Optional(Type.Boolean()),
    UDP: Type.Optional(Type.String()),
    OSService: Type.Optional(Type.String()),
    AliasNode: Type.Optional(Type.String()),
    AliasService: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type ConsulCheckBody = Static<typeof ConsulCheckBody>;

/** api.AgentServiceRegistration. */
export const ConsulRegistrationBody = Type.Object(
  {
    ID: Type.Optional(Type.Union([InstanceId, Type.Literal('')])),
    Name: Type.String({ maxLength: 256 }),
    Tags: Type.Optional(Nullable(Type.Array(Printable(255), { maxItems: 64 }))),
    Address: Type.Optional(Type.String({ maxLength: 253 })),
    Port: Type.Optional(Type.Integer({ minimum: 0, maximum: 65535 })),
    Meta: Type.Optional(Nullable(Meta)),
    Weights: Type.Optional(
      Nullable(
        Type.Object(
          { Passing: Type.Optional(Type.Integer()), Warning: Type.Optional(Type.Integer()) },
          { additionalProperties: false },
        ),
      ),
    ),
    Check: Type.Optional(Nullable(ConsulCheckBody)),
    Checks: Type.Optional(Nullable(Type.Array(ConsulCheckBody, { maxItems: 32 }))),
    EnableTagOverride: Type.Optional(Type.Boolean()),
    TaggedAddresses: Type.Optional(Nullable(Type.Record(Type.String(), Type.Unknown()))),
    Kind: Type.Optional(Type.String()),
    Proxy: Type.Optional(Nullable(Type.Object({}))),
    Connect: Type.Optional(Nullable(Type.Object({}))),
    SocketPath: Type.Optional(Type.String()),
    Namespace: Type.Optional(Type.String()),
    Partition: Type.Optional(Type.String()),
    Locality: Type.Optional(Nullable(Type.Object({}))),
  },
  { additionalProperties: false },
);
export type ConsulRegistrationBody = Static<typeof ConsulRegistrationBody>;

/** The body of PUT /v1/agent/check/update/:check_id. */
export const ConsulCheckUpdateBody = Type.Object(
  {
    Status: Type.Union([Type.Literal('passing'), Type.Literal('warning'), Type.Literal('critical')]),
    // Consul keeps the first 4 KiB of an output (OutputMaxSize) and drops the rest; so do we.
    Output: Type.Optional(Type.String({ maxLength: 1_048_576 })),
  },
  { additionalProperties: false },
);

/**
 * Go's strconv.ParseBool, plus the empty value Consul reads as true (`?passing`).
 * A query string is text, so the schema checks the form and routes read it with parseBool.
 */
export const BOOL_PATTERN = '^(|1|t|T|TRUE|true|True|0|f|F|FALSE|false|False)$';
const Flag = Type.String({ maxLength: 16 });

/** Query parameters every Consul client may send; the ones Konsul cannot honour are refused in query-options.ts. */
const CommonQuery = {
  token: Type.Optional(Type.String({ maxLength: 1024 })),
  dc: Type.Optional(Type.String({ maxLength: 256 })),
  ns: Type.Optional(Type.String({ maxLength: 256 })),
  partition: Type.Optional(Type.String({ maxLength: 256 })),
  peer: Type.Optional(Type.String({ maxLength: 256 })),
  filter: Type.Optional(Type.String({ maxLength: 4096 })),
  pretty: Type.Optional(Flag),
};

const ReadQuery = {
  ...CommonQuery,
  index: Type.Optional(Type.Integer({ minimum: 0 })),
  wait: Type.Optional(Duration),
  stale: Type.Optional(Flag),
  consistent: Type.Optional(Flag),
  leader: Type.Optional(Flag),
  cached: Type.Optional(Flag),
  max_stale: Type.Optional(Duration),
  near: Type.Optional(Type.String({ maxLength: 256 })),
  'node-meta': Type.Optional(Type.Array(Type.String({ maxLength: 1024 }), { maxItems: 64 })),
};

export const ConsulWriteQuery = Type.Object(
  { ...CommonQuery, 'replace-existing-checks': Type.Optional(Flag) },
  { additionalProperties: false },
);
export const ConsulCheckQuery = Type.Object(
  { ...CommonQuery, note: Type.Optional(Type.String({ maxLength: 1_048_576 })) },
  { additionalProperties: false },
);
export const ConsulReadQuery = Type.Object(ReadQuery, { additionalProperties: false });
export const ConsulAgentServiceQuery = Type.Object(
  { ...ReadQuery, hash: Type.Optional(Type.String({ maxLength: 64 })) },
  { additionalProperties: false },
);

/** catalog/service and health/service: Consul's filters plus Konsul's load-balancing extension. */
export const ConsulServiceQuery = Type.Object(
  {
    ...ReadQuery,
    tag: Type.Optional(Type.Array(Printable(255), { maxItems: 64 })),
    passing: Type.Optional(Type.String({ pattern: BOOL_PATTERN })),
    'merge-central-config': Type.Optional(Flag),
    lb: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000 })),
    'client-ip': Type.Optional(Type.String({ minLength: 2, maxLength: 64 })),
    'session-key': Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    'client-region': Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.-]+$' })),
  },
  { additionalProperties: false },
);
export type ConsulServiceQuery = Static<typeof ConsulServiceQuery>;

/** Path parameters are looked up, never stored, so any printable value is a fair 404. */
const Lookup = Type.String({ minLength: 1, maxLength: 512, pattern: '^[^\\u0000-\\u001f\\u007f]+$' });
export const ConsulServiceIdParams = Type.Object({ id: Lookup });
export const ConsulCheckIdParams = Type.Object({ check_id: Lookup });
export const ConsulServiceNameParams = Type.Object({ service: Lookup });
export const ConsulStateParams = Type.Object({ state: Type.String({ maxLength: 64 }) });

// ---- responses ----------------------------------------------------------------------------

const StringMap = Type.Record(Type.String(), Type.String());
const Weights = Type.Object({ Passing: Type.Integer(), Warning: Type.Integer() });

/** api.AgentService as /v1/agent/services lists it. */
export const AgentServiceSchema = Type.Object({
  ID: Type.String(),
  Service: Type.String(),
  Tags: Type.Array(Type.String()),
  Meta: StringMap,
  Port: Type.Integer(),
  Address: Type.String(),
  Weights,
  EnableTagOverride: Type.Boolean(),
  Datacenter: Type.String(),
  ContentHash: Type.Optional(Type.String()),
});

/** structs.NodeService, the Service of a health entry. */
export const NodeServiceSchema = Type.Object({
  ID: Type.String(),
  Service: Type.String(),
  Tags: Type.Array(Type.String()),
  Address: Type.String(),
  Meta: StringMap,
  Port: Type.Integer(),
  Weights,
  EnableTagOverride: Type.Boolean(),
  CreateIndex: Type.Integer(),
  ModifyIndex: Type.Integer(),
});

export const NodeSchema = Type.Object({
  ID: Type.String(),
  Node: Type.String(),
  Address: Type.String(),
  Datacenter: Type.String(),
  TaggedAddresses: StringMap,
  Meta: StringMap,
  CreateIndex: Type.Integer(),
  ModifyIndex: Type.Integer(),
});

export const HealthCheckSchema = Type.Object({
  Node: Type.String(),
  CheckID: Type.String(),
  Name: Type.String(),
  Status: Type.String(),
  Notes: Type.String(),
  Output: Type.String(),
  ServiceID: Type.String(),
  ServiceName: Type.String(),
  ServiceTags: Type.Array(Type.String()),
  Type: Type.String(),
  Interval: Type.String(),
  Timeout: Type.String(),
  ExposedPort: Type.Integer(),
  Definition: Type.Object({
    HTTP: Type.Optional(Type.String()),
    Method: Type.Optional(Type.String()),
    Header: Type.Optional(Type.Record(Type.String(), Type.Array(Type.String()))),
    TCP: Type.Optional(Type.String()),
    TTL: Type.Optional(Type.String()),
    Interval: Type.Optional(Type.String()),
    Timeout: Type.Optional(Type.String()),
    DeregisterCriticalServiceAfter: Type.Optional(Type.String()),
  }),
  CreateIndex: Type.Integer(),
  ModifyIndex: Type.Integer(),
});

export const ServiceEntrySchema = Type.Object({
  Node: NodeSchema,
  Service: NodeServiceSchema,
  Checks: Type.Array(HealthCheckSchema),
});

export type ConsulAgentService = Static<typeof AgentServiceSchema>;
export type ConsulNodeService = Static<typeof NodeServiceSchema>;
export type ConsulNodeEntry = Static<typeof NodeSchema>;
export type ConsulHealthCheck = Static<typeof HealthCheckSchema>;
export type ConsulServiceEntry = Static<typeof ServiceEntrySchema>;

/** api.CatalogService. */
export const CatalogServiceSchema = Type.Object({
  ID: Type.String(),
  Node: Type.String(),
  Address: Type.String(),
  Datacenter: Type.String(),
  TaggedAddresses: StringMap,
  NodeMeta: StringMap,
  ServiceKind: Type.String(),
  ServiceID: Type.String(),
  ServiceName: Type.String(),
  ServiceTags: Type.Array(Type.String()),
  ServiceAddress: Type.String(),
  ServiceWeights: Weights,
  ServiceMeta: StringMap,
  ServicePort: Type.Integer(),
  ServiceEnableTagOverride: Type.Boolean(),
  CreateIndex: Type.Integer(),
  ModifyIndex: Type.Integer(),
});
export type ConsulCatalogService = Static<typeof CatalogServiceSchema>;

/** What /v1/agent/self answers: enough for clients that probe the agent before using it. */
export const AgentSelfSchema = Type.Object({
  Config: Type.Object({
    Datacenter: Type.String(),
    PrimaryDatacenter: Type.String(),
    NodeName: Type.String(),
    NodeID: Type.String(),
    Revision: Type.String(),
    Server: Type.Boolean(),
    Version: Type.String(),
    BuildDate: Type.String(),
  }),
  DebugConfig: Type.Record(Type.String(), Type.Unknown()),
  Coord: Type.Null(),
  Member: Type.Object({
    Name: Type.String(),
    Addr: Type.String(),
    Port: Type.Integer(),
    Tags: StringMap,
    Status: Type.Integer(),
    ProtocolMin: Type.Integer(),
    ProtocolMax: Type.Integer(),
    ProtocolCur: Type.Integer(),
    DelegateMin: Type.Integer(),
    DelegateMax: Type.Integer(),
    DelegateCur: Type.Integer(),
  }),
  Stats: Type.Record(Type.String(), StringMap),
  Meta: StringMap,
});
export type ConsulAgentSelf = Static<typeof AgentSelfSchema>;
