/**
 * The one StrategyContext a manager reuses for every query: fields are set before
 * each strategy call, so ordering allocates nothing beyond its result array.
 */
import type { Instance } from '../catalog/types.js';
import type { ListCache, ListEntry, ListVariant } from './list-cache.js';
import type { LoadTracker } from './load-tracker.js';
import type { LbConfig, LoadView, StateSlot, StrategyContext } from './types.js';

export class QueryContext implements StrategyContext {
  key = '';
  service = '';
  limit = 0;
  clientIp: string | undefined = undefined;
  sessionKey: string | undefined = undefined;
  clientRegion: string | undefined = undefined;
  entry: ListEntry | undefined = undefined;
  variant: ListVariant | undefined = undefined;
  instances: readonly Instance[] = [];
  /** Registration index of the strategy being run: selects its rotation counter. */
  strategyIndex = 0;

  constructor(
    readonly config: Readonly<LbConfig>,
    readonly random: () => number,
    private readonly cache: ListCache,
    private readonly tracker: LoadTracker,
  ) {}

  nextRotation(): number {
    const values = this.entry!.rotation.values;
    const index = this.strategyIndex;
    while (values.length <= index) values.push(0);
    const value = values[index];
    // Doubles count exactly to 2^53; wrap long before that.
    values[index] = value >= 0x1fffffffffffff ? 0 : value + 1;
    return value;
  }

  state<T>(slot: StateSlot<T>): T {
    const slots = this.variant!.slots;
    let value = slots.get(slot) as T | undefined;
    if (value === undefined) {
      value = slot.build(this.instances, this);
      slots.set(slot, value);
      this.cache.builds++;
    }
    return value;
  }

  loads(): readonly LoadView[] {
    const variant = this.variant!;
    let loads = variant.loads;
    if (loads === undefined || variant.loadsGeneration !== this.tracker.generation) {
      const records: LoadView[] = new Array<LoadView>(this.instances.length);
      for (let i = 0; i < records.length; i++) records[i] = this.tracker.record(this.instances[i].id);
      variant.loads = loads = records;
      variant.loadsGeneration = this.tracker.generation;
    }
    return loads;
  }
}
