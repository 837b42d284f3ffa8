/**
 * The client's entry point: one per process and Konsul cluster. It owns the HTTP calls to
 * Konsul, one watch per balanced service (shared by every balancer of it), the balancers and
 * the registrations, and close() releases all of them: no timer, socket or signal listener
 * of the client outlives it.
 */
import { systemClock, type Clock } from '../clock.js';
import { createStrategyManager } from '../lb/manager.js';
import { createSeededRandom } from '../lb/seeded-random.js';
import { Balancer } from './balancer.js';
import { ClientErrors } from './errors.js';
import { KonsulHttp } from './konsul-http.js';
import { CLIENT_LB_CONFIG } from './lb-config.js';
import { LoadReporter } from './load-reporter.js';
import type { ClientObserver } from './observer.js';
import { OutcomeReporter } from './outcome-reporter.js';
import {
  resolveBalancerOptions,
  resolveKonsulOptions,
  resolveTtl,
  type BalancerOptions,
  type KonsulOptions,
  type RegisterOptions,
  type ResolvedKonsulOptions,
} from './options.js';
import { ServiceRegistration, type ServiceInstance } from './registration.js';
import { ServiceWatch } from './service-watch.js';
import { onTermination } from './signals.js';

/** What tests and tools may inject besides the options: time, randomness and metrics hooks. */
export interface KonsulRuntime {
  /** Epoch clock and one-shot timers every wait of the client goes through. Default: the process's. */
  clock?: Clock;
  /** Seeds jitter and the random strategies (random, weighted-random, p2c), for reproducible runs. Default: Math.random. */
  seed?: number;
  observer?: ClientObserver;
}

export class Konsul {
  private readonly options: ResolvedKonsulOptions;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly observer: ClientObserver | undefined;
  private readonly http: KonsulHttp;
  private readonly watches = new Map<string, ServiceWatch>();
  private readonly balancers = new Set<Balancer>();
  private readonly registrations = new Set<ServiceRegistration>();
  private removeSignalListeners: (() => void) | undefined = undefined;
  private closing: Promise<void> | undefined = undefined;

  constructor(options: KonsulOptions & KonsulRuntime) {
    this.options = resolveKonsulOptions(options);
    this.clock = options.clock ?? systemClock;
    this.random = options.seed === undefined ? Math.random : createSeededRandom(options.seed);
    this.observer = options.observer;
    this.http = new KonsulHttp(this.options.urls, this.options.token, this.clock);
  }

  /** A balancer for `service`; its instances are watched from now on. */
  balancer(service: string, options: BalancerOptions = {}): Balancer {
    if (this.closing !== undefined) throw ClientErrors.closed();
    const resolved = resolveBalancerOptions(service, options);
    const name = service.toLowerCase();
    const manager = createStrategyManager(CLIENT_LB_CONFIG, { random: this.random });
    const reporter =
      resolved.reportLoadMs === undefined
        ? undefined
        : new LoadReporter(this.http, resolved.reportLoadMs, this.options.requestTimeoutMs);
    const outcomes =
      resolved.reportOutcomes === undefined
        ? undefined
        : new OutcomeReporter(
            name,
            this.http,
            this.clock,
            resolved.reportOutcomes.intervalMs,
            resolved.reportOutcomes.maxPending,
            this.options.requestTimeoutMs,
            this.observer,
          );
    const balancer = new Balancer(
      name,
      resolved,
      this.watch(name),
      manager,
      this.clock,
      reporter,
      outcomes,
      this.observer,
    );
    this.balancers.add(balancer);
    return balancer;
  }

  /**
   * Registers an instance with a TTL check and keeps it passing until close() (or SIGTERM and
   * SIGINT, unless handleSignals is false), then deregisters it.
   */
  async register(instance: ServiceInstance, options: RegisterOptions = {}): Promise<ServiceRegistration> {
    if (this.closing !== undefined) throw ClientErrors.closed();
    const { ttl, ttlMs } = resolveTtl(options);
    const { requestTimeoutMs, retryBaseMs, retryMaxMs } = this.options;
    const registration = new ServiceRegistration(this.http, this.clock, this.random, instance, ttl, ttlMs, {
      requestTimeoutMs,
      retryBaseMs,
      retryMaxMs,
    });
    await registration.start();
    this.registrations.add(registration);
    if (this.options.handleSignals) this.removeSignalListeners ??= onTermination(() => this.close());
    return registration;
  }

  /** Stops every watch and balancer, deregisters every registration, and aborts what is still in flight. */
  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.removeSignalListeners?.();
    for (const balancer of this.balancers) balancer.close();
    const watches = [...this.watches.values()].map((watch) => watch.close());
    // Deregistration needs the HTTP calls, so they are closed after it.
    const deregistrations = await Promise.allSettled(
      [...this.registrations].map((registration) => registration.close()),
    );
    this.http.close();
    await Promise.all(watches);
    const failed = deregistrations.find((result) => result.status === 'rejected');
    if (failed !== undefined) throw failed.reason;
  }

  private watch(service: string): ServiceWatch {
    let watch = this.watches.get(service);
    if (watch === undefined) {
      const { waitMs, requestTimeoutMs, retryBaseMs, retryMaxMs } = this.options;
      watch = new ServiceWatch(service, this.http, this.clock, this.random, {
        waitMs,
        requestTimeoutMs,
        retryBaseMs,
        retryMaxMs,
      });
      if (this.observer?.catalog !== undefined) {
        const observer = this.observer;
        watch.on('sync', () => observer.catalog?.(service, true));
        watch.on('stale', () => observer.catalog?.(service, false));
      }
      this.watches.set(service, watch);
      watch.start();
    }
    return watch;
  }
}
