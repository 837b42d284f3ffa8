import type { preValidationHookHandler } from 'fastify';
import type { TSchema } from 'typebox';
import { ConsulHttpError } from './errors.js';

/**
 * Consul decodes request bodies with Go's encoding/json, which matches a JSON key to a struct
 * field regardless of case, and its structs (agent/structs CheckType.UnmarshalJSON and
 * ServiceDefinition.UnmarshalJSON) add snake_case aliases for some fields. Clients rely on both:
 * python-consul sends `{"name": ..., "check": {"ttl": "10s"}}`. This module rewrites a parsed
 * body into the canonical field names of its JSON Schema before the schema validates it, so the
 * schemas stay written in Consul's PascalCase and validation keeps naming fields that way.
 *
 * Only field names are rewritten. The keys of maps (Meta, Header, TaggedAddresses) are user data
 * and stay exactly as sent; so do all values. A key that is neither a field nor an alias of a
 * closed object is refused, as Consul's decoder (DisallowUnknownFields) refuses it.
 */

/** An alternative name Consul's decoder accepts for a field. */
export interface FieldAlias {
  /** The canonical field the alias fills. */
  field: string;
  /**
   * When the alias's value is used, as in Consul's UnmarshalJSON: when the canonical field was
   * not sent at all (`absent`: Go's `== nil` test), or also when it was sent as its zero value
   * (`zero`: Go's `== ""`, `len(...) == 0`, or a bool alias that can only turn the field on).
   */
  when: 'absent' | 'zero';
}

type Plan =
  | { kind: 'leaf' }
  | { kind: 'array'; items: Plan }
  | { kind: 'map'; values: Plan }
  | { kind: 'union'; object: Plan | undefined; array: Plan | undefined }
  | {
      kind: 'object';
      fields: Map<string, { name: string; plan: Plan }>;
      aliases: Map<string, FieldAlias & { plan: Plan }>;
      closed: boolean;
    };

const LEAF: Plan = { kind: 'leaf' };
const aliasesOf = new WeakMap<object, Readonly<Record<string, FieldAlias>>>();
const plans = new WeakMap<object, Plan>();

/** Declares the aliases Consul accepts for an object schema's fields; returns the schema. */
export function withFieldAliases<T extends TSchema>(schema: T, aliases: Readonly<Record<string, FieldAlias>>): T {
  aliasesOf.set(schema, aliases);
  return schema;
}

/**
 * Go's case folding of JSON field names (encoding/json foldName): ASCII letters fold to lower
 * case, any other character to the lower case of its upper case, so `ſ` matches `s` and the
 * Kelvin sign `K` matches `k`, exactly as they do for Consul.
 */
export function foldFieldName(name: string): string {
  let folded = '';
  for (const character of name) {
    const code = character.codePointAt(0)!;
    if (code < 0x80) {
      folded += code >= 0x41 && code <= 0x5a ? String.fromCharCode(code + 0x20) : character;
      continue;
    }
    // Go folds rune by rune (unicode.ToLower(unicode.ToUpper(r))); a special casing that
    // expands to several characters (ß → SS) has no single-rune mapping and stays as it is.
    const upper = character.toUpperCase();
    const single = [...upper].length === 1 ? upper : character;
    const lower = single.toLowerCase();
    folded += [...lower].length === 1 ? lower : single;
  }
  return folded;
}

function planOf(schema: TSchema | JsonSchema): Plan {
  const cached = plans.get(schema);
  if (cached !== undefined) return cached;
  const plan = compile(schema);
  plans.set(schema, plan);
  return plan;
}

interface JsonSchema {
  type?: string;
  anyOf?: JsonSchema[];
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
  patternProperties?: Record<string, JsonSchema>;
  additionalProperties?: boolean | JsonSchema;
}

function compile(schema: JsonSchema): Plan {
  if (schema.anyOf !== undefined) {
    const object = schema.anyOf.find((variant) => variant.type === 'object');
    const array = schema.anyOf.find((variant) => variant.type === 'array');
    if (object === undefined && array === undefined) return LEAF;
    return {
      kind: 'union',
      object: object === undefined ? undefined : planOf(object),
      array: array === undefined ? undefined : planOf(array),
    };
  }
  if (schema.type === 'array')
    return schema.items === undefined ? LEAF : { kind: 'array', items: planOf(schema.items) };
  if (schema.type !== 'object') return LEAF;
  if (schema.patternProperties !== undefined) {
    const values = Object.values(schema.patternProperties).at(0);
    return { kind: 'map', values: values === undefined ? LEAF : planOf(values) };
  }
  const fields = new Map<string, { name: string; plan: Plan }>();
  for (const [name, property] of Object.entries(schema.properties ?? {}))
    fields.set(foldFieldName(name), { name, plan: planOf(property) });
  const aliases = new Map<string, FieldAlias & { plan: Plan }>();
  for (const [alias, target] of Object.entries(aliasesOf.get(schema) ?? {})) {
    const field = fields.get(foldFieldName(target.field));
    if (field === undefined) throw new Error(`alias ${alias} names ${target.field}, which the schema does not have`);
    aliases.set(foldFieldName(alias), { ...target, plan: field.plan });
  }
  return { kind: 'object', fields, aliases, closed: schema.additionalProperties === false };
}

function member(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Go's zero value test as Consul's UnmarshalJSON methods apply it. */
function isZero(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === 0 || value === '') return true;
  if (Array.isArray(value)) return value.length === 0;
  return isPlainObject(value) && Object.keys(value).length === 0;
}

function canonical(value: unknown, plan: Plan, path: string): unknown {
  switch (plan.kind) {
    case 'leaf':
      return value;
    case 'array':
      return Array.isArray(value)
        ? value.map((item, index) => canonical(item, plan.items, `${path}[${index}]`))
        : value;
    case 'union':
      if (Array.isArray(value)) return plan.array === undefined ? value : canonical(value, plan.array, path);
      return isPlainObject(value) && plan.object !== undefined ? canonical(value, plan.object, path) : value;
    case 'map': {
      if (!isPlainObject(value)) return value;
      const map: Record<string, unknown> = {};
      for (const [key, item] of Object.entries(value)) map[key] = canonical(item, plan.values, member(path, key));
      return map;
    }
    case 'object':
      return isPlainObject(value) ? canonicalObject(value, plan, path) : value;
  }
}

function canonicalObject(
  value: Record<string, unknown>,
  plan: Extract<Plan, { kind: 'object' }>,
  path: string,
): unknown {
  const object: Record<string, unknown> = {};
  const aliased = new Map<string, { value: unknown; alias: FieldAlias & { plan: Plan } }>();
  // Keys in the order sent: when two spellings of one field arrive, the last wins, as in Go.
  for (const [key, item] of Object.entries(value)) {
    const folded = foldFieldName(key);
    const field = plan.fields.get(folded);
    if (field !== undefined) {
      object[field.name] = canonical(item, field.plan, member(path, field.name));
      continue;
    }
    const alias = plan.aliases.get(folded);
    if (alias !== undefined) aliased.set(alias.field, { value: item, alias });
    // Consul refuses it (`json: unknown field`); the wording is the one every Konsul face uses.
    else if (plan.closed)
      throw ConsulHttpError.badRequest(`Request decode failed: ${member(path, key)}: is not a known field`);
    // An open object (Proxy, Connect) is opaque: translate.ts judges it whole.
    else object[key] = item;
  }
  for (const [field, { value: item, alias }] of aliased) {
    const sent = object[field];
    if (alias.when === 'absent' ? sent === undefined || sent === null : isZero(sent))
      object[field] = canonical(item, alias.plan, member(path, field));
  }
  return object;
}

/** The body with every field name in its canonical spelling; throws Consul's 400 for an unknown field. */
export function canonicalFieldNames(body: unknown, schema: TSchema): unknown {
  return canonical(body, planOf(schema), '');
}

/**
 * A preValidation hook that puts a /v1 body's field names in their canonical spelling, so the
 * route's schema (and everything after it) sees one spelling. The plan is built once, here.
 */
export function matchFieldNamesAsConsul(schema: TSchema): preValidationHookHandler {
  const plan = planOf(schema);
  return (request, _reply, done) => {
    try {
      request.body = canonical(request.body, plan, '');
    } catch (error) {
      done(error as Error);
      return;
    }
    done();
  };
}
