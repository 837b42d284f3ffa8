import type { FastifyReply, FastifyRequest } from 'fastify';
import { Errors } from '../errors.js';
import { isWrite } from './auth.js';

/** Buckets kept at most; the least recently refilled go first, so memory stays bounded. */
const MAX_CLIENTS = 100_000;

interface Bucket {
  tokens: number;
  refilledAt: number;
}

export interface RateLimitOptions {
  writesPerSecond: number;
  /** Writes a quiet client may send at once; 0 means one second's worth. */
  writeBurst: number;
  now?: () => number;
}

/**
 * A token bucket per client address on writes: a steady `writesPerSecond` with bursts up to
 * `writeBurst`. Reads are never limited. Null when the limit is off (the default).
 */
export function createWriteRateLimit(
  options: RateLimitOptions,
): ((request: FastifyRequest, reply: FastifyReply) => Promise<void>) | null {
  if (options.writesPerSecond <= 0) return null;
  const rate = options.writesPerSecond / 1000;
  const capacity = options.writeBurst > 0 ? options.writeBurst : Math.max(1, Math.ceil(options.writesPerSecond));
  const now = options.now ?? Date.now;
  const buckets = new Map<string, Bucket>();
  return async (request, reply) => {
    if (!isWrite(request)) return;
    const at = now();
    let bucket = buckets.get(request.ip);
    if (bucket === undefined) {
      if (buckets.size >= MAX_CLIENTS) buckets.delete(buckets.keys().next().value!);
      bucket = { tokens: capacity, refilledAt: at };
    } else {
      buckets.delete(request.ip);
      bucket.tokens = Math.min(capacity, bucket.tokens + (at - bucket.refilledAt) * rate);
      bucket.refilledAt = at;
    }
    buckets.set(request.ip, bucket);
    if (bucket.tokens < 1) {
      const retryAfter = Math.ceil((1 - bucket.tokens) / rate / 1000);
      void reply.header('retry-after', String(retryAfter));
      throw Errors.rateLimited(retryAfter);
    }
    bucket.tokens -= 1;
  };
}
