/**
 * konsul/client: client-side load balancing on Konsul's own strategies. See docs/client.md.
 * Everything a user imports comes from here; the rest of src/client is internal.
 */
export { Konsul, type KonsulRuntime } from './konsul.js';
export type { Balancer, BalancedRequestInit, BalancerStats } from './balancer.js';
export type { ServiceRegistration, ServiceInstance, RegistrationStats } from './registration.js';
export type { CatalogStats } from './service-watch.js';
export type { InstanceStats } from './instance-state.js';
export type { ClientObserver } from './observer.js';
export type {
  KonsulOptions,
  BalancerOptions,
  RegisterOptions,
  RetryBudgetOptions,
  OutlierOptions,
  BreakerOptions,
  LoadReportOptions,
  OutcomeReportOptions,
} from './options.js';
export type { OutcomeReportStats } from './outcome-reporter.js';
export { KonsulClientError, KonsulRefusal } from './errors.js';
export type { Clock, Timers, TimerHandle } from '../clock.js';
export type { Instance, HealthStatus } from '../catalog/types.js';
