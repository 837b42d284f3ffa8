import { cpus, loadavg, totalmem } from 'node:os';

/** What a reader needs to judge the figures: cores, CPU model, Node version, and how busy the box was. */
export function machineLine(): string {
  const cores = cpus();
  const model = cores[0]?.model.trim() ?? 'unknown CPU';
  const load = loadavg()
    .map((value) => value.toFixed(2))
    .join(' ');
  const memoryGb = (totalmem() / 2 ** 30).toFixed(1);
  return `${cores.length} cores, ${model}, ${memoryGb} GiB RAM, Node ${process.version} (${process.platform}/${process.arch}), load average ${load} at start`;
}
