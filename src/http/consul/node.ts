import { createHash } from 'node:crypto';

/**
 * The one node Konsul shows Consul clients. Consul lists every service under the agent node it
 * runs on; Konsul has no nodes, so every instance sits on this synthetic node, and each
 * instance carries its own address (ServiceAddress / Service.Address is never empty).
 */
export interface ConsulNode {
  /** Node name, also what /v1/agent/self reports as NodeName. */
  name: string;
  /** A UUID, stable for one data file, as Consul's node IDs are. */
  id: string;
  datacenter: string;
  address: string;
  /** What /v1/status/leader answers: Consul's server RPC address form. */
  leader: string;
}

export const CONSUL_DATACENTER = 'dc1';
export const CONSUL_NODE_NAME = 'konsul';
const NODE_ADDRESS = '127.0.0.1';
/** Consul's server RPC port; clients only check that a leader is reported, never dial it. */
const SERVER_PORT = 8300;

/** The synthetic node for a catalog whose data lives at `location`. */
export function consulNode(location: string): ConsulNode {
  const hex = createHash('sha256').update(`konsul-node:${location}`).digest('hex');
  // Version-4 layout with the variant bits set, so UUID parsers in clients accept it.
  const id = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-4${hex.slice(13, 16)}-${((parseInt(hex[16], 16) & 0x3) | 0x8).toString(16)}${hex.slice(17, 20)}-${hex.slice(20, 32)}`;
  return {
    name: CONSUL_NODE_NAME,
    id,
    datacenter: CONSUL_DATACENTER,
    address: NODE_ADDRESS,
    leader: `${NODE_ADDRESS}:${SERVER_PORT}`,
  };
}
