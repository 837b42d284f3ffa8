import type { FastifyReply } from 'fastify';
import type { TSchema } from 'typebox';
import type { Instance } from '../catalog/types.js';
import { JoinedAnswers } from './joined-answers.js';
import { sharedSerializer } from './lazy-schemas.js';

/** What Fastify's own serializer path sets for a JSON body. */
export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';
const OPEN = 0x5b; // [
const COMMA = 0x2c;
const CLOSE = 0x5d; // ]

/** A made-up instance with every optional part, for the item serializer's first run (sharedSerializer). */
const SAMPLE: Instance = {
  id: 'warm-up-1',
  name: 'warm-up',
  address: '127.0.0.1',
  port: 8080,
  tags: ['a'],
  meta: { k: 'v' },
  weight: 1,
  region: 'r',
  zone: 'z',
  maintenance: { reason: 'warm-up', since: 0 },
  status: 'passing',
  checks: [
    {
      id: 'warm-up-1-ttl',
      name: 'warm-up',
      type: 'ttl',
      ttl: '10s',
      successBeforePassing: 1,
      failuresBeforeCritical: 1,
      instanceId: 'warm-up-1',
      status: 'passing',
      note: '',
      statusChangedAt: 0,
    },
  ],
  createIndex: 1,
  modifyIndex: 1,
};

/**
 * The body of a route whose answer is a JSON array with one item per instance (the native
 * service queries, Consul's /v1/health/service), built from each item's JSON serialized once per
 * instance record instead of once per request.
 *
 * The catalog replaces an Instance object on every change (registration, check status,
 * maintenance) and never mutates one, so the object is its own version: the WeakMap keyed by it
 * holds one item's bytes per live record and lets them go with the record. The bound is therefore the
 * catalog itself: at most one item's JSON per instance record still referenced (the catalog's
 * own, plus superseded ones an in-flight request or a cached load-balancing list still holds
 * until it lets go), about the size of the answers that list it (docs/api.md, "Answer bytes").
 *
 * Items are serialized by Fastify's serializer compiler with the item schema of the route's 200
 * response (sharedSerializer: compiled once per process, at start-up unless the server compiles
 * schemas on first use), kept as UTF-8 bytes and joined the way
 * fast-json-stringify joins array items, so the bytes are the ones the route's array serializer
 * would write; the route keeps declaring its response schema, which still describes the body.
 */
export class InstanceListJson {
  private readonly items = new WeakMap<Instance, Buffer>();
  /** The items of the answer being built, reused: answering is synchronous from here on. */
  private readonly parts: Buffer[] = [];
  private readonly serializeItem: (item: unknown) => string;

  /**
   * @param itemSchema the schema of one item of the route's 200 array
   * @param answers whole bodies kept for reuse (joined-answers.ts), shared by the server's routes
   * @param toItem the item an instance is shown as, when it is not the instance itself; it must
   *   depend on nothing but the instance and values fixed for the life of this object
   */
  constructor(
    itemSchema: TSchema,
    private readonly answers: JoinedAnswers,
    private readonly toItem?: (instance: Instance) => object,
  ) {
    this.serializeItem = sharedSerializer(itemSchema, () => (toItem === undefined ? SAMPLE : toItem(SAMPLE)));
  }

  /**
   * The array of `instances`' items as JSON, in UTF-8: bytes, so a long answer (every instance of
   * a large service) is cached bytes, not a string to encode again on every write; a long answer
   * asked again with the same items is the body built the first time.
   */
  body(instances: readonly Instance[]): Buffer {
    const parts = this.parts;
    // Empty even if a serializer threw half-way through the previous answer.
    parts.length = 0;
    // Brackets and one comma between items.
    let length = instances.length === 0 ? 2 : instances.length + 1;
    for (let i = 0; i < instances.length; i++) {
      const item = this.item(instances[i]);
      parts.push(item);
      length += item.length;
    }
    const long = length >= JoinedAnswers.minBodyBytes;
    if (long) {
      const kept = this.answers.find(parts);
      if (kept !== undefined) {
        parts.length = 0;
        return kept;
      }
    }
    const body = Buffer.allocUnsafe(length);
    body[0] = OPEN;
    let offset = 1;
    for (let i = 0; i < parts.length; i++) {
      if (i > 0) body[offset++] = COMMA;
      offset += parts[i].copy(body, offset);
    }
    body[offset] = CLOSE;
    if (long) this.answers.keep(parts, body);
    parts.length = 0;
    return body;
  }

  private item(instance: Instance): Buffer {
    let item = this.items.get(instance);
    if (item === undefined) {
      const shown = this.toItem === undefined ? instance : this.toItem(instance);
      item = Buffer.from(this.serializeItem(shown));
      this.items.set(instance, item);
    }
    return item;
  }

  /** Sends the array of `instances`' items with the JSON content-type, bypassing per-request serialization (Fastify sends bytes as they are). */
  send(reply: FastifyReply, instances: readonly Instance[]): FastifyReply {
    return reply.header('content-type', JSON_CONTENT_TYPE).send(this.body(instances));
  }
}
