import { Type, type Static, type TSchema } from 'typebox';
import {
  Address,
  CheckId,
  CheckName,
  CheckNotes,
  CheckThreshold,
  Duration,
  HeaderName,
  HeaderValue,
  HttpCheckMethod,
  HttpCheckUrl,
  InstanceId,
  Meta,
  Port,
  PrintableOrEmpty,
  ServiceName,
  Tags,
  TcpCheckTarget,
} from '../schemas.js';
import { withFieldAliases } from './field-names.js';

/**
 * Consul's request and response shapes (PascalCase), as JSON Schemas. Request schemas list every
 * field Consul's own decoding structs declare, so a client that sends a field Konsul ignores still
 * gets through, while a misspelt field is a 400 naming it. Field names are matched as Consul
 * matches them (any case, plus Consul's snake_case aliases: field-names.ts); the values follow
 * the same field rules as Konsul's own routes (../schemas.ts). Which fields are honoured, ignored
 * or refused is decided in translate.ts and listed in docs/consul-compatibility.md.
 */

/** Go decodes a JSON null into the zero value; Consul clients written in other languages send it. */
const Nullable = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Null()]);
/** Go's zero value: Consul reads an empty string as "not set". */
const OrEmpty = <T extends TSchema>(schema: T) => Type.Union([schema, Type.Literal('')]);

/**
 * structs.CheckType, the Check and Checks of a service registration. The aliases are those of
 * CheckType.UnmarshalJSON in Consul's agent/structs/check_type.go.
 */
export const ConsulCheckBody = withFieldAliases(
  Type.Object(
    {
      CheckID: Type.Optional(OrEmpty(CheckId)),
      Name: Type.Optional(OrEmpty(CheckName)),
      Notes: Type.Optional(CheckNotes),
      Status: Type.Optional(
        Type.Union([Type.Literal('passing'), Type.Literal('warning'), Type.Literal('critical'), Type.Literal('')]),
      ),
      HTTP: Type.Optional(OrEmpty(HttpCheckUrl)),
      Method: Type.Optional(OrEmpty(HttpCheckMethod)),
      Header: Type.Optional(
        Nullable(
          Type.Record(HeaderName, Type.Array(HeaderValue, { maxItems: 16 }), {
            additionalProperties: false,
            maxProperties: 32,
          }),
        ),
      ),
      TCP: Type.Optional(OrEmpty(TcpCheckTarget)),
      TTL: Type.Optional(OrEmpty(Duration)),
      Interval: Type.Optional(OrEmpty(Duration)),
      Timeout: Type.Optional(OrEmpty(Duration)),
      DeregisterCriticalServiceAfter: Type.Optional(OrEmpty(Duration)),
      SuccessBeforePassing: Type.Optional(CheckThreshold),
      FailuresBeforeCritical: Type.Optional(CheckThreshold),
      FailuresBeforeWarning: Type.Optional(CheckThreshold),
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
      // Consul decodes these and then ignores them (a service's checks belong to that service,
      // and the proxy fields are filled in by Consul itself); so does Konsul.
      ServiceID: Type.Optional(Type.String({ maxLength: 512 })),
      ProxyHTTP: Type.Optional(Type.String({ maxLength: 2048 })),
      ProxyGRPC: Type.Optional(Type.String({ maxLength: 2048 })),
    },
    { additionalProperties: false },
  ),
  {
    // Consul's "args" alias fills ScriptArgs; here Args is a field of its own (api.AgentServiceCheck
    // spells it so), matched in any case, and both are refused when set (translate.ts).
    script_args: { field: 'ScriptArgs', when: 'zero' },
    deregister_critical_service_after: { field: 'DeregisterCriticalServiceAfter', when: 'absent' },
    docker_container_id: { field: 'DockerContainerID', when: 'zero' },
    tls_server_name: { field: 'TLSServerName', when: 'zero' },
    tls_skip_verify: { field: 'TLSSkipVerify', when: 'zero' },
    grpc_use_tls: { field: 'GRPCUseTLS', when: 'zero' },
    h2ping_use_tls: { field: 'H2PingUseTLS', when: 'zero' },
    service_id: { field: 'ServiceID', when: 'zero' },
  },
);
export type ConsulCheckBody = Static<typeof ConsulCheckBody>;

/** structs.ServiceAddress, a value of TaggedAddresses. */
const ServiceAddress = Type.Object(
  { Address: Type.Optional(Type.String({ maxLength: 253 })), Port: Type.Optional(Type.Integer()) },
  { additionalProperties: false },
);

/**
 * structs.ServiceDefinition, what PUT /v1/agent/service/register decodes (a superset of
 * api.AgentServiceRegistration). The aliases are those of ServiceDefinition.UnmarshalJSON in
 * Consul's agent/structs/service_definition.go.
 */
export const ConsulRegistrationBody = withFieldAliases(
  Type.Object(
    {
      ID: Type.Optional(OrEmpty(InstanceId)),
      // Optional here so that a missing name gets Consul's own answer, "Missing service name".
      Name: Type.Optional(ServiceName),
      Tags: Type.Optional(Nullable(Tags)),
      Address: Type.Optional(OrEmpty(Address)),
      Port: Type.Optional(Port),
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
      TaggedAddresses: Type.Optional(
        Nullable(Type.Record(Type.String({ maxLength: 64 }), ServiceAddress, { maxProperties: 16 })),
      ),
      // The ACL token the agent would sync this service with; Konsul has no per-service tokens,
      // the request's own token (header or ?token=) is what authorizes it.
      Token: Type.Optional(Type.String({ maxLength: 1024 })),
      Kind: Type.Optional(Type.String()),
      Proxy: Type.Optional(Nullable(Type.Object({}))),
      Connect: Type.Optional(Nullable(Type.Object({}))),
      SocketPath: Type.Optional(Type.String()),
      Ports: Type.Optional(Nullable(Type.Array(Type.Object({}), { maxItems: 64 }))),
      Namespace: Type.Optional(Type.String()),
      Partition: Type.Optional(Type.String()),
      Locality: Type.Optional(Nullable(Type.Object({}))),
    },
    { additionalProperties: false },
  ),
  {
    enable_tag_override: { field: 'EnableTagOverride', when: 'zero' },
    tagged_addresses: { field: 'TaggedAddresses', when: 'zero' },
  },
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

/**
 * Query parameters every Consul client may send; the ones Konsul cannot honour are refused in
 * query-options.ts. Consul's handlers read the parameters they know and never look at the rest,
 * and clients rely on that (a cache-buster such as `?_time=1700000000000`), so every /v1 query
 * schema is open: a known parameter with a bad value is a 400, an unknown one is ignored.
 * Konsul's own routes stay strict, where a typo such as `sesion-key` is a 400.
 */
const Open = { additionalProperties: true } as const;
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

export const ConsulWriteQuery = Type.Object({ ...CommonQuery, 'replace-existing-checks': Type.Optional(Flag) }, Open);
export const ConsulMaintenanceQuery = Type.Object(
  {
    ...CommonQuery,
    enable: Type.Optional(Flag),
    reason: Type.Optional(PrintableOrEmpty(512)),
  },
  Open,
);
export const ConsulCheckQuery = Type.Object(
  { ...CommonQuery, note: Type.Optional(Type.String({ maxLength: 1_048_576 })) },
  Open,
);
export const ConsulReadQuery = Type.Object(ReadQuery, Open);
export const ConsulAgentServiceQuery = Type.Object(
  { ...ReadQuery, hash: Type.Optional(Type.String({ maxLength: 64 })) },
  Open,
);

/** catalog/service and health/service: Consul's filters plus Konsul's load-balancing extension. */
export const ConsulServiceQuery = Type.Object(
  {
    ...ReadQuery,
    tag: Type.Optional(Tags),
    passing: Type.Optional(Type.String({ pattern: BOOL_PATTERN })),
    'merge-central-config': Type.Optional(Flag),
    lb: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    limit: Type.Optional(Type.Integer({ minimum: 0, maximum: 100000 })),
    'client-ip': Type.Optional(Type.String({ minLength: 2, maxLength: 64 })),
    'session-key': Type.Optional(Type.String({ minLength: 1, maxLength: 1024 })),
    'client-region': Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.-]+$' })),
  },
  Open,
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
