import type { FastifyReply } from 'fastify';
import type { TSchema } from 'typebox';
import type { Instance } from '../catalog/types.js';

/** What Fastify's own serializer path sets for a JSON body. */
export const JSON_CONTENT_TYPE = 'application/json; charset=utf-8';

/**
 * The body of a route whose answer is a JSON array with one item per instance (the native
 * service queries, Consul's /v1/health/service), built from each item's JSON serialized once per
 * instance record instead of once per request.
 *
 * The catalog replaces an Instance object on every change (registration, check status,
 * maintenance) and never mutates one, so the object is its own version: the WeakMap keyed by it
 * holds one string per live record and lets it go with the record. The bound is therefore the
 * catalog itself: at most one item's JSON per instance record still referenced (the catalog's
 * own, plus superseded ones an in-flight request or a cached load-balancing list still holds
 * until it lets go), about the size of the answers that list it (docs/api.md, "Answer bytes").
 *
 * Items are serialized by the route's own serializer compiler (reply.compileSerializationSchema
 * with the item schema of the route's 200 response), and joined the way fast-json-stringify
 * joins array items, so the bytes are the ones the route's array serializer would write; the
 * route keeps declaring its response schema, which still describes the body.
 */
export class InstanceListJson {
  private readonly items = new WeakMap<Instance, string>();
  private serializeItem: ((item: Record<string, unknown>) => string) | null = null;

  /**
   * @param itemSchema the schema of one item of the route's 200 array
   * @param toItem the item an instance is shown as, when it is not the instance itself; it must
   *   depend on nothing but the instance and values fixed for the life of this object
   */
  constructor(
    private readonly itemSchema: TSchema,
    private readonly toItem?: (instance: Instance) => object,
  ) {}

  /** The array of `instances`' items, as JSON text. */
  body(reply: FastifyReply, instances: readonly Instance[]): string {
    let body = '[';
    for (let i = 0; i < instances.length; i++) {
      const instance = instances[i];
      let item = this.items.get(instance);
      if (item === undefined) {
        const serialize = (this.serializeItem ??= reply.compileSerializationSchema(
          this.itemSchema as unknown as Record<string, unknown>,
          '200',
        ));
        const shown = this.toItem === undefined ? instance : this.toItem(instance);
        item = serialize(shown as unknown as Record<string, unknown>);
        this.items.set(instance, item);
      }
      body += i === 0 ? item : `,${item}`;
    }
    return `${body}]`;
  }

  /** Sends the array of `instances`' items with the JSON content-type, bypassing per-request serialization. */
  send(reply: FastifyReply, instances: readonly Instance[]): FastifyReply {
    return reply.header('content-type', JSON_CONTENT_TYPE).send(this.body(reply, instances));
  }
}
