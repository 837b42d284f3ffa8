/**
 * A retry budget (Finagle's RetryBudget; Envoy's retry_budget): every request deposits `ratio`
 * of a retry, every retry withdraws one, so retries stay at most `ratio` of requests and an
 * outage cannot multiply the load on a service. A small reserve refilled at `minPerSecond`
 * lets a quiet service still retry. The balance is capped at BALANCE_REQUESTS requests' worth,
 * so a long calm spell does not save up a retry storm for the next outage.
 */
const BALANCE_REQUESTS = 100;

export class RetryBudget {
  private balance = 0;
  private reserve: number;
  private refilledAt: number;
  private readonly cap: number;

  constructor(
    private readonly ratio: number,
    private readonly minPerSecond: number,
    now: number,
  ) {
    this.cap = Math.max(1, ratio * BALANCE_REQUESTS);
    this.reserve = minPerSecond;
    this.refilledAt = now;
  }

  deposit(): void {
    const balance = this.balance + this.ratio;
    this.balance = balance > this.cap ? this.cap : balance;
  }

  /** True, and the retry is paid for, when the budget allows one more. */
  withdraw(now: number): boolean {
    if (this.balance >= 1) {
      this.balance -= 1;
      return true;
    }
    if (this.minPerSecond > 0) {
      const refilled = this.reserve + ((now - this.refilledAt) / 1000) * this.minPerSecond;
      this.reserve = refilled > this.minPerSecond ? this.minPerSecond : refilled;
      this.refilledAt = now;
      if (this.reserve >= 1) {
        this.reserve -= 1;
        return true;
      }
    }
    return false;
  }
}
