/**
 * What sending an answer over UDP costs beyond the system call, kept small.
 *
 * Which answers are sent with a completion callback: Node's dgram reports a failed send only
 * to a callback, and a callback costs every answer a process.nextTick and a trip through the
 * tick queue, even when the send finished at once, as it almost always does. Under dnsperf
 * that tick was most of the server's JavaScript time per answer. So one answer in
 * SEND_CHECK_INTERVAL carries one, the first among them. A failure that lasts (a firewall's EPERM, ENOBUFS while the socket's buffer is full)
 * is still seen within that many answers and logged, throttled; a single lost datagram goes
 * unseen, as the client's would on the way back.
 */

import { lookup as dnsLookup } from 'node:dns';
import { isIP } from 'node:net';

export const SEND_CHECK_INTERVAL = 64;

export type SendCallback = (error: Error | null) => void;

export class SendCheck {
  private sends = 0;
  /** Failures seen so far (checked sends only). */
  failures = 0;
  private readonly callback: SendCallback;

  constructor(
    onFailure: (error: Error) => void,
    private readonly interval: number = SEND_CHECK_INTERVAL,
  ) {
    this.callback = (error) => {
      if (error === null) return;
      this.failures++;
      onFailure(error);
    };
  }

  /** The callback to pass to this answer's send, or undefined (socket.send takes either). */
  next(): SendCallback | undefined {
    const checked = this.sends === 0;
    this.sends = this.sends + 1 === this.interval ? 0 : this.sends + 1;
    return checked ? this.callback : undefined;
  }
}

type LookupCallback = (error: NodeJS.ErrnoException | null, address: string, family: number) => void;

/**
 * The socket's `lookup`: dgram resolves the address of every send through it, and the default,
 * dns.lookup, answers even an IP literal (a peer's address always is one) on the next tick.
 * A literal is answered here at once; anything else goes to dns.lookup as before.
 */
export function literalLookup(hostname: string, family: number, callback: LookupCallback): void {
  const version = isIP(hostname);
  if (version !== 0) callback(null, hostname, version);
  else dnsLookup(hostname, family, callback);
}
