/**
 * A registration that keeps itself alive: the instance is registered with one TTL check,
 * which is passed every ttl/3 (with jitter, so instances started together spread out). When
 * Konsul answers that the check is unknown (it lost the instance: a wiped data dir, a
 * deregistration by hand) the instance is registered again. A heartbeat that fails is
 * retried with backoff, never later than the next regular beat. close() stops the beats and
 * deregisters.
 *
 * Events: 'heartbeat' (a beat went through), 'registered' (registered again), 'failure'.
 */
import { EventEmitter } from 'node:events';
import type { Clock, TimerHandle } from '../clock.js';
import type { Registration } from '../catalog/types.js';
import { backoffDelay } from './backoff.js';
import { KonsulRefusal } from './errors.js';
import { describe, type KonsulHttp } from './konsul-http.js';

/** What register() takes: an instance as PUT /catalog/register does, without checks (the client adds its TTL check). */
export type ServiceInstance = Omit<Registration, 'checks'>;

export interface RegistrationTiming {
  requestTimeoutMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
}

export interface RegistrationStats {
  id: string;
  checkId: string;
  heartbeats: number;
  /** Registrations after Konsul lost the instance. */
  reRegistrations: number;
  /** Heartbeats that failed (Konsul unreachable or erroring). */
  failures: number;
  lastError: string | null;
}

export class ServiceRegistration extends EventEmitter {
  id = '';
  checkId = '';
  private heartbeats = 0;
  private reRegistrations = 0;
  private failures = 0;
  private consecutiveFailures = 0;
  private lastError: string | null = null;
  private timer: TimerHandle | undefined = undefined;
  private beating: Promise<void> | undefined = undefined;
  private closed = false;
  private readonly intervalMs: number;

  /** @internal Made by Konsul.balancer() / Konsul.register(). */
  constructor(
    private readonly http: KonsulHttp,
    private readonly clock: Clock,
    private readonly random: () => number,
    private readonly instance: ServiceInstance,
    private readonly ttl: string,
    ttlMs: number,
    private readonly timing: RegistrationTiming,
  ) {
    super();
    this.intervalMs = ttlMs / 3;
  }

  /** Registers once (throws what Konsul answered when it refuses) and starts the heartbeats. */
  async start(): Promise<void> {
    await this.register();
    this.schedule(this.nextBeat());
  }

  stats(): RegistrationStats {
    return {
      id: this.id,
      checkId: this.checkId,
      heartbeats: this.heartbeats,
      reRegistrations: this.reRegistrations,
      failures: this.failures,
      lastError: this.lastError,
    };
  }

  /** Stops the heartbeats and removes the instance from Konsul (an instance Konsul no longer has is fine). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    await this.beating;
    try {
      await this.http.call({
        method: 'DELETE',
        path: `/catalog/instances/${encodeURIComponent(this.id)}`,
        timeoutMs: this.timing.requestTimeoutMs,
      });
    } catch (error) {
      if (!(error instanceof KonsulRefusal && error.status === 404)) throw error;
    }
  }

  private async register(): Promise<void> {
    const answer = await this.http.call({
      method: 'PUT',
      path: '/catalog/register',
      body: { ...this.instance, checks: [{ type: 'ttl', ttl: this.ttl, status: 'passing' }] },
      timeoutMs: this.timing.requestTimeoutMs,
    });
    const id = (answer.body as { id?: unknown } | undefined)?.id;
    if (typeof id !== 'string') throw new Error('Konsul answered a registration without an id');
    this.id = id;
    // The id Konsul gives the only check of a registration that names none (docs/api.md).
    this.checkId = `service:${id}`;
  }

  /** ttl/3, less up to 10% of jitter. */
  private nextBeat(): number {
    return this.intervalMs * (0.9 + 0.1 * this.random());
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      this.beating = this.beat();
    }, delayMs);
  }

  private async beat(): Promise<void> {
    let delayMs: number;
    try {
      try {
        await this.http.call({
          method: 'PUT',
          path: `/health/check/${encodeURIComponent(this.checkId)}/pass`,
          timeoutMs: this.timing.requestTimeoutMs,
        });
      } catch (error) {
        if (!(error instanceof KonsulRefusal && error.status === 404) || this.closed) throw error;
        await this.register();
        this.reRegistrations++;
        this.emit('registered');
      }
      this.heartbeats++;
      this.consecutiveFailures = 0;
      delayMs = this.nextBeat();
      this.emit('heartbeat');
    } catch (error) {
      this.failures++;
      this.consecutiveFailures++;
      this.lastError = describe(error);
      const { retryBaseMs, retryMaxMs } = this.timing;
      delayMs = Math.min(backoffDelay(this.consecutiveFailures, retryBaseMs, retryMaxMs, this.random), this.nextBeat());
      this.emit('failure', error);
    }
    this.schedule(delayMs);
  }
}
