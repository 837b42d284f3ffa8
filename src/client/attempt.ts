/**
 * One attempt of a balanced call, and the one object it allocates: its entry in the balancer's
 * deadline queue (attempt-deadlines.ts), and the way its per-try timeout stops the request.
 *
 * An AbortSignal per attempt was most of the client's CPU per call (docs/benchmarks.md#client):
 * the controller is an EventTarget, and fetch, handed a signal, builds a WeakRef, a listener and
 * a FinalizationRegistry entry for it, each call, for a timeout that almost never fires. So the
 * attempt gives fetch no signal. It is instead the `dispatcher` fetch sends the request through
 * (undici's `init.dispatcher`, which Node's fetch honours): it keeps fetch's handler and hands
 * the request, with that same handler, on to the real dispatcher (the caller's, or the global
 * one). Once the request is on a connection, fetch's handler holds the request's `abort`
 * function (undici passes it to onConnect, and fetch keeps it as `handler.abort`). A timeout
 * calls it (undici fails the request through the handler and closes the socket, as a signal
 * would), or, while the request still waits for a connection, fails fetch's handler at once:
 * fetch rejects, and when the request does connect, fetch's onConnect finds its connection
 * destroyed and aborts it. Nothing is made for the timeout unless it fires.
 *
 * The handler is not wrapped: a wrapper relaying each of undici's callbacks (connect, headers,
 * every chunk, completion) made a call 0.7 to 0.9 µs dearer than a plain fetch at the median,
 * against 0.2 µs without it (undici answering in process, calls alternating).
 *
 * The handler interface is undici's (v5–v7 `onConnect`/`onHeaders`/… handlers, fetch's with its
 * `abort` field). On a runtime whose fetch hands its dispatcher another kind of handler, the
 * attempt uses an AbortController as before (`signalled()`), so the timeout keeps working there,
 * at the old cost.
 */

/** The part of undici's dispatch-handler interface fetch's handler implements. */
export interface DispatchHandler {
  /** fetch's handler: the request's abort function once it is on a connection, null before. */
  abort?: ((reason?: unknown) => void) | null;
  onConnect?(abort: (reason?: unknown) => void, context?: unknown): void;
  onResponseStarted?(): void;
  onHeaders?(statusCode: number, headers: unknown, resume: () => void, statusText: string): boolean;
  onData?(chunk: Buffer): boolean;
  onComplete?(trailers: unknown): void;
  onError?(error: unknown): void;
  onUpgrade?(statusCode: number, headers: unknown, socket: unknown): void;
  onBodySent?(chunk: unknown): void;
  onRequestSent?(): void;
  onRequestStart?: unknown;
}

export interface Dispatcher {
  dispatch(options: object, handler: DispatchHandler): boolean;
  readonly isMockActive?: boolean;
}

const NO_INIT: object = Object.freeze({});

/** Where undici (Node's and the npm package alike) keeps the global dispatcher. */
const GLOBAL_DISPATCHER = Symbol.for('undici.globalDispatcher.1');

/**
 * False once fetch handed an attempt a handler it cannot stand in front of (another undici
 * handler API), or on a runtime whose fetch is not undici: attempts use an AbortSignal from then on.
 */
let dispatcherRoute = /^[5-7]\./.test(process.versions.undici ?? '');

/** Whether new attempts go through the dispatcher route (no AbortSignal); tests read it. */
export function usesDispatcherRoute(): boolean {
  return dispatcherRoute;
}

/** @internal Tests only: force the AbortSignal route (false) or restore the default. */
export function setDispatcherRoute(enabled: boolean): void {
  dispatcherRoute = enabled && /^[5-7]\./.test(process.versions.undici ?? '');
}

export class Attempt implements Dispatcher {
  /** True once the call has the attempt's response (or error), or it was stopped: the timeout no longer applies. */
  done = false;
  /** Why the attempt was stopped (the per-try timeout's reason, or the balancer closing); undefined otherwise. */
  reason: unknown = undefined;
  /** What fetch resolved with, or why it failed (the stop reason when the attempt was stopped). */
  response: Response | undefined = undefined;
  error: unknown = undefined;
  /** The AbortSignal route only. */
  controller: AbortController | undefined = undefined;
  /** fetch's init for this attempt (the caller's, with this attempt as dispatcher or its signal). */
  init: object = NO_INIT;
  /** performance.now() when the request was handed to fetch. */
  started = 0;
  /** fetch's handler of the request now dispatched (a followed redirect dispatches again). */
  private handler: DispatchHandler | undefined = undefined;

  constructor(
    /** Epoch ms at which the attempt times out. */
    readonly at: number,
    /** The caller's dispatcher, if init carried one. */
    private readonly target: Dispatcher | undefined,
  ) {}

  /** The AbortSignal route: a controller the timeout aborts. */
  signalled(): AbortSignal {
    const controller = new AbortController();
    this.controller = controller;
    return controller.signal;
  }

  get isMockActive(): boolean {
    return this.real().isMockActive === true;
  }

  /** Stops the attempt with `reason` unless it already has its answer. */
  stop(reason: unknown): void {
    if (this.done) return;
    this.done = true;
    this.reason = reason;
    const controller = this.controller;
    if (controller !== undefined) {
      controller.abort(reason);
      return;
    }
    const handler = this.handler;
    if (handler === undefined) return; // dispatch() has not been called and will fail the request when it is
    const abort = handler.abort;
    // On a connection: undici fails the request (fetch's handler hears it through onError) and
    // closes its socket. Still waiting for one: fetch rejects now and aborts the request on connect.
    if (typeof abort === 'function') abort(reason);
    else handler.onError?.(reason);
  }

  dispatch(options: object, handler: DispatchHandler): boolean {
    const real = this.real();
    if (typeof handler.onConnect !== 'function' || handler.abort !== null || handler.onRequestStart !== undefined) {
      // Not fetch's handler as this class knows it (no abort field waiting for onConnect):
      // later attempts use a signal.
      dispatcherRoute = false;
      return real.dispatch(options, handler);
    }
    // A followed redirect dispatches again, with a new handler: the timeout covers it too.
    this.handler = handler;
    if (this.reason !== undefined) {
      handler.onError?.(this.reason);
      return true;
    }
    return real.dispatch(options, handler);
  }

  private real(): Dispatcher {
    return this.target ?? (globalThis as unknown as Record<symbol, Dispatcher>)[GLOBAL_DISPATCHER];
  }
}
