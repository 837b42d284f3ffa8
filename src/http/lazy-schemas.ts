import {
  SerializerSelector,
  type SerializerCompiler,
  type SerializerFactory,
} from '@fastify/fast-json-stringify-compiler';
import type { FastifyInstance, FastifySchema, FastifySchemaCompiler, FastifySchemaValidationError } from 'fastify';
import { validatorCompiler } from './validation.js';

/**
 * Route schemas compiled when a route is first used, or all at once by `compileAllSchemas`.
 *
 * Compiling every route's validators (Ajv) and response serializers (fast-json-stringify) is
 * about 0.3 s of CPU for some 80 routes, one schema up to tens of milliseconds, of which a test
 * typically serves a handful. The server compiles them all before it listens
 * (http.compileSchemas "startup"), since a compile on a request's path holds the event loop
 * that DNS and every other request share; a test server compiles each on first use
 * ("first-use"). `compileAll` also lets a test prove that every schema compiles.
 *
 * Serializers are also shared between Fastify instances in one process, keyed by the schema
 * object: Ajv already caches validators that way, and route schemas are module constants.
 */
export interface LazySchemas {
  validatorCompiler: FastifySchemaCompiler<FastifySchema>;
  /** Fastify's `schemaController.compilersFactory.buildSerializer`. */
  buildSerializer: SerializerFactory;
  /** Compiles every schema not compiled yet; returns how many it compiled. */
  compileAll: () => number;
}

type Serialize = (data: unknown) => string;

interface Validate {
  (data: unknown, context?: unknown): boolean;
  errors?: FastifySchemaValidationError[] | null;
  /** Set on Ajv's own functions; Fastify then passes the parent context a root coercion needs. */
  schemaEnv?: unknown;
}

const buildEagerSerializer = SerializerSelector();

/**
 * fast-json-stringify picks the branch of an anyOf (a union: `'passing' | 'critical'`, a string
 * or null) by validating the value with Ajv, and by default compiles each branch's validator the
 * first time a value reaches it: 26 ms for the first instance list a server answered, 1.3 ms
 * more for the first critical status, on a request's path. Compiled with the serializer, they
 * cost that once, at start-up (or at the first use that compiles the serializer, in tests).
 */
const SERIALIZER_OPTIONS = { compileValidators: true };

/**
 * Calls a freshly compiled validator or serializer once, on an empty object it may reject.
 * Ajv and fast-json-stringify build functions from source text, and V8 turns a function into
 * bytecode only at its first call: left to the first request, that compilation was 0.5-0.6 ms
 * of the 3.4-3.8 ms the first catalog query held the loop (median of 9 starts each), where a
 * start-up compilation exists to spare the request path exactly such work.
 */
function runOnce(compiled: (data: unknown) => unknown): void {
  try {
    compiled({});
  } catch {
    // A serializer throws on a missing required field: the call has compiled it all the same.
  }
}

/** Validators and serializers compiled by this process so far: a server compiling at start-up adds none while it serves. */
let compilations = 0;

export function schemaCompilations(): number {
  return compilations;
}
/**
 * Compiled serializers by schema object, for instances without shared schemas (`addSchema`) or
 * serializer options, whose serializers depend on nothing else; holds at most one per route schema the process defines.
 */
const serializers = new WeakMap<object, Serialize>();

/**
 * Serializers of schemas that are no route's own (an instance-list item, the explained answer),
 * one per schema object per process, compiled on first use or by `compileAllSchemas`. Their
 * schemas are module constants, so this holds a fixed handful.
 */
const sharedSerializers = new Map<object, Serialize | null>();
/** A made-up value of each shared schema that has one, run through its serializer once it is compiled. */
const sharedSamples = new Map<object, () => unknown>();

/**
 * The serializer of `schema` as a route without shared schemas or serializer options would
 * compile it (Fastify's own compiler, so the bytes are the same), compiled on first use unless
 * `compileAllSchemas` got there first. `sample`, a made-up value of the schema with every nested
 * part present, is serialized once right after the compile: runOnce's empty object stops at the
 * first required field, and the serializer's nested functions (one per array and object) would
 * otherwise be compiled by V8 on the first real answer (some 0.7 ms for an instance's).
 */
export function sharedSerializer(schema: object, sample?: () => unknown): Serialize {
  if (!sharedSerializers.has(schema)) sharedSerializers.set(schema, null);
  if (sample !== undefined && !sharedSamples.has(schema)) sharedSamples.set(schema, sample);
  let compiled = sharedSerializers.get(schema) ?? null;
  return (data) => (compiled ??= compileShared(schema))(data);
}

function compileShared(schema: object): Serialize {
  let compiled = sharedSerializers.get(schema) ?? null;
  if (compiled === null) {
    compiled = buildEagerSerializer(undefined, SERIALIZER_OPTIONS)({ schema, method: '', url: '', httpStatus: '200' });
    runOnce(compiled);
    const sample = sharedSamples.get(schema);
    if (sample !== undefined) compiled(sample());
    compilations++;
    sharedSerializers.set(schema, compiled);
  }
  return compiled;
}

/** The lazy compilers of each Fastify instance that uses them, for `compileAllSchemas`. */
const byApp = new WeakMap<object, LazySchemas>();

/** Installs lazy compilers on a Fastify instance created with `schemaController` from `lazySchemas`. */
export function useLazySchemas(app: FastifyInstance, schemas: LazySchemas): void {
  app.setValidatorCompiler(schemas.validatorCompiler);
  byApp.set(app, schemas);
}

/**
 * Compiles every route schema of `app` not compiled yet (all of them right after start-up), and
 * every shared serializer (sharedSerializer) not compiled yet; returns how many it compiled.
 */
export function compileAllSchemas(app: FastifyInstance): number {
  const schemas = byApp.get(app);
  if (schemas === undefined) throw new Error('this Fastify instance does not compile its schemas lazily');
  let count = schemas.compileAll();
  for (const [schema, compiled] of sharedSerializers) {
    if (compiled !== null) continue;
    compileShared(schema);
    count++;
  }
  return count;
}

export function lazySchemas(): LazySchemas {
  // Pending compilations of this Fastify instance; each removes itself once done.
  const pending = new Set<() => void>();

  const lazyValidator: FastifySchemaCompiler<FastifySchema> = (route) => {
    let compiled: Validate | null = null;
    const compile = (): Validate => {
      if (compiled === null) {
        compiled = validatorCompiler(route) as Validate;
        runOnce(compiled);
        compilations++;
        pending.delete(compile);
      }
      return compiled;
    };
    pending.add(compile);
    const validate: Validate = (data, context) => {
      const inner = compiled ?? compile();
      const valid = inner.schemaEnv === undefined ? inner(data) : inner(data, context);
      // Fastify reads the errors off the function it was given.
      validate.errors = inner.errors ?? null;
      return valid;
    };
    // Truthy before compilation, so Fastify always hands over the context; passed on only to Ajv.
    validate.schemaEnv = true;
    return validate;
  };

  const buildSerializer: SerializerFactory = (externalSchemas, options) => {
    const eager = buildEagerSerializer(externalSchemas, { ...options, ...SERIALIZER_OPTIONS });
    const empty = (value: unknown) => value === undefined || Object.keys(value as object).length === 0;
    const shared = empty(externalSchemas) && empty(options);
    const cache = shared ? serializers : null;
    const lazySerializer: SerializerCompiler = (route) => {
      const schema = route.schema as object;
      let compiled: Serialize | null = cache?.get(schema) ?? null;
      if (compiled !== null) return compiled;
      const compile = (): Serialize => {
        if (compiled === null) {
          compiled = cache?.get(schema) ?? null;
          if (compiled === null) {
            compiled = eager(route);
            runOnce(compiled);
            compilations++;
            cache?.set(schema, compiled);
          }
          pending.delete(compile);
        }
        return compiled;
      };
      pending.add(compile);
      return (data) => (compiled ?? compile())(data);
    };
    return lazySerializer;
  };

  return {
    validatorCompiler: lazyValidator,
    buildSerializer,
    compileAll: () => {
      const count = pending.size;
      for (const compile of [...pending]) compile();
      return count;
    },
  };
}
