/**
 * Hooks for metrics: the client depends on no metrics library, so a service that uses
 * prom-client wires these to its own counters and histograms (docs/client.md shows how).
 * Every hook is optional and called synchronously on the request path: keep them cheap.
 */
export interface ClientObserver {
  /** One attempt ended: `outcome` is 'success' (an answer below 500) or 'failure'. */
  attempt?(service: string, instanceId: string, outcome: 'success' | 'failure', seconds: number): void;
  /** A retry was sent (after a failure of `instanceId`). */
  retry?(service: string, instanceId: string): void;
  /** A retry was wanted but the budget refused it. */
  budgetExhausted?(service: string): void;
  /** An instance was ejected until `untilMs` (epoch ms). */
  ejected?(service: string, instanceId: string, untilMs: number): void;
  /** An instance's circuit breaker opened. */
  breakerOpened?(service: string, instanceId: string): void;
  /** A call to Konsul for the service's list failed (`ok` false) or succeeded after failures. */
  catalog?(service: string, ok: boolean): void;
  /** An outcome report for `instanceId` ended: Konsul took it (`ok`), or it failed and its counts were dropped. */
  outcomeReport?(service: string, instanceId: string, ok: boolean): void;
}
