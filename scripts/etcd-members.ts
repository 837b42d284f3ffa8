import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

/**
 * A local etcd cluster of real `etcd` processes (Debian's etcd 3.4) on free loopback ports, for
 * the tests and `npm run cluster:local`. Flags as docs/cluster.md recommends: pre-vote on (off by
 * default in 3.4), auto-compaction, watch progress notifications; shorter heartbeat and election
 * timeouts than production so that a failover takes about a second.
 */
export interface EtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  child: ChildProcess | null;
  /** Output lines kept for diagnostics (bounded). */
  output: string[];
}

export interface EtcdClusterOptions {
  size: number;
  /** Where each member's data directory goes. */
  baseDir: string;
  etcdBinary?: string;
  /** Passed as --auto-compaction-retention (periodic mode); '0' turns it off. */
  autoCompactionRetention?: string;
  heartbeatMs?: number;
  electionMs?: number;
  /** Called with each output line of each member. */
  onLine?: (member: string, line: string) => void;
  /** Own process group, so a terminal's Ctrl-C reaches only the parent, which then stops the members. */
  detached?: boolean;
}

const OUTPUT_LINES_KEPT = 200;

export class EtcdCluster {
  readonly members: EtcdMember[];

  private constructor(
    private readonly options: EtcdClusterOptions,
    members: EtcdMember[],
  ) {
    this.members = members;
  }

  static async start(options: EtcdClusterOptions): Promise<EtcdCluster> {
    const members: EtcdMember[] = [];
    for (let i = 0; i < options.size; i++) {
      const [clientPort, peerPort] = [await freePort(), await freePort()];
      const dataDir = join(options.baseDir, `etcd-${i}`);
      mkdirSync(dataDir, { recursive: true });
      members.push({
        name: `etcd-${i}`,
        clientUrl: `http://127.0.0.1:${clientPort}`,
        peerUrl: `http://127.0.0.1:${peerPort}`,
        dataDir,
        child: null,
        output: [],
      });
    }
    const cluster = new EtcdCluster(options, members);
    for (let i = 0; i < members.length; i++) cluster.spawn(i);
    await cluster.waitHealthy(members.map((_, i) => i));
    return cluster;
  }

  get endpoints(): string[] {
    return this.members.map((member) => member.clientUrl);
  }

  /** Starts member `i` again on its data directory (after kill()). */
  async restart(i: number): Promise<void> {
    this.spawn(i);
    await this.waitHealthy([i]);
  }

  kill(i: number, signal: NodeJS.Signals = 'SIGKILL'): void {
    const child = this.members[i].child;
    if (child !== null && child.exitCode === null && child.signalCode === null) child.kill(signal);
    if (signal === 'SIGKILL') this.members[i].child = null;
  }

  /** SIGKILL everything (SIGTERM can hang on an orphaned leader). */
  stopAll(): void {
    for (let i = 0; i < this.members.length; i++) this.kill(i, 'SIGKILL');
  }

  /** Index of the current leader among the members that answer, or -1. */
  async leader(): Promise<number> {
    for (let i = 0; i < this.members.length; i++) {
      if (this.members[i].child === null) continue;
      const status = await this.status(i);
      if (status !== null && status.leader !== '0' && status.leader === status.memberId) return i;
    }
    return -1;
  }

  /** Compacts the history up to `revision` through the JSON gateway of a member that answers. */
  async compact(revision: number): Promise<void> {
    for (const member of this.members) {
      if (member.child === null) continue;
      const response = await fetch(`${member.clientUrl}/v3/kv/compaction`, {
        method: 'POST',
        body: JSON.stringify({ revision: String(revision), physical: true }),
        signal: AbortSignal.timeout(5000),
      }).catch(() => null);
      if (response?.ok === true) return;
    }
    throw new Error(`no etcd member compacted to ${revision}`);
  }

  /** Resolves once each given member answers /health with a leader. */
  async waitHealthy(indexes: readonly number[], timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (const i of indexes) {
      for (;;) {
        if (await this.healthy(i)) break;
        if (Date.now() > deadline) {
          throw new Error(`etcd member ${i} is not healthy:\n${this.members[i].output.slice(-20).join('\n')}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
  }

  private async healthy(i: number): Promise<boolean> {
    try {
      const response = await fetch(`${this.members[i].clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
      const body = (await response.json()) as { health?: string };
      return body.health === 'true';
    } catch {
      return false;
    }
  }

  /** The member's view of who leads, through the JSON gateway of etcd 3.4. */
  private async status(i: number): Promise<{ leader: string; memberId: string } | null> {
    try {
      const response = await fetch(`${this.members[i].clientUrl}/v3/maintenance/status`, {
        method: 'POST',
        body: '{}',
        signal: AbortSignal.timeout(1000),
      });
      const body = (await response.json()) as { leader?: string; header?: { member_id?: string } };
      return { leader: body.leader ?? '0', memberId: body.header?.member_id ?? '' };
    } catch {
      return null;
    }
  }

  private spawn(i: number): void {
    const member = this.members[i];
    const initialCluster = this.members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
    const args = [
      `--name=${member.name}`,
      `--data-dir=${member.dataDir}`,
      `--listen-client-urls=${member.clientUrl}`,
      `--advertise-client-urls=${member.clientUrl}`,
      `--listen-peer-urls=${member.peerUrl}`,
      `--initial-advertise-peer-urls=${member.peerUrl}`,
      `--initial-cluster=${initialCluster}`,
      '--initial-cluster-state=new',
      '--initial-cluster-token=konsul-local',
      '--pre-vote=true',
      '--auto-compaction-mode=periodic',
      `--auto-compaction-retention=${this.options.autoCompactionRetention ?? '1h'}`,
      '--experimental-watch-progress-notify-interval=5s',
      `--heartbeat-interval=${this.options.heartbeatMs ?? 100}`,
      `--election-timeout=${this.options.electionMs ?? 1000}`,
      '--logger=zap',
      '--log-outputs=stderr',
      '--log-level=warn',
    ];
    const child = spawn(this.options.etcdBinary ?? 'etcd', args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: this.options.detached ?? false,
    });
    member.child = child;
    const onData = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (line === '') continue;
        member.output.push(line);
        if (member.output.length > OUTPUT_LINES_KEPT) member.output.shift();
        this.options.onLine?.(member.name, line);
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
  }
}

/** A port the OS just handed out and released; another process could take it, which is rare on loopback. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
