/**
 * The config blocks strategies own (Envoy keeps each policy's config with the policy): each
 * strategy file exports its block's key, schema and rules; the config schema and loader only
 * collect them from here. A new strategy with settings adds its block to both lists.
 */
import type { Config } from '../config/schema.js';
import { latencyConfig } from './strategies/latency-based.js';
import { maglevConfig } from './strategies/maglev.js';
import { ringHashConfig } from './strategies/ring-hash.js';

/** The `lb` properties the strategies define, keyed as they appear in konsul.config.json. */
export const strategyConfigSchemas = {
  [ringHashConfig.key]: ringHashConfig.schema,
  [maglevConfig.key]: maglevConfig.schema,
  [latencyConfig.key]: latencyConfig.schema,
};

/** Rules a schema cannot say, each as `lb.<key>.<problem>`; empty when every block is sound. */
export function strategyConfigProblems(lb: Config['lb']): string[] {
  const problems: string[] = [];
  const maglev = maglevConfig.problem(lb[maglevConfig.key]);
  if (maglev !== undefined) problems.push(`lb.${maglevConfig.key}.${maglev}`);
  return problems;
}

/** Blocks a user's config file replaces whole instead of merging key by key (maps of user keys). */
export const replacedWholeKeys: ReadonlySet<string> = new Set([latencyConfig.key]);
