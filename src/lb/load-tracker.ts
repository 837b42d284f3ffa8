/**
 * Reported load per instance: active connections (a gauge, last value wins) and
 * latency smoothed by an exponentially weighted moving average,
 * `ewma = alpha * sample + (1 - alpha) * ewma`, the first sample taken as is.
 */
import { Errors } from '../errors.js';
import type { LoadView } from './types.js';

export class LoadRecord implements LoadView {
  connections = 0;
  latencyMs = Number.NaN;
  /** Last service label the instance was reported under, for observer calls. */
  service: string | undefined = undefined;
}

export interface LoadReport {
  connections?: number;
  latencyMs?: number;
}

export class LoadTracker {
  private readonly records = new Map<string, LoadRecord>();
  /** Bumped when an instance is forgotten, so cached record arrays re-resolve. */
  generation = 0;

  constructor(private readonly alpha: number) {}

  /** Applies one report; returns the record so the caller can notify observers. */
  report(instanceId: string, load: LoadReport, service?: string): LoadRecord {
    const { connections, latencyMs } = load;
    // The HTTP edge validates with JSON Schema; DNS never reports. This guards other callers.
    if (connections !== undefined && !(Number.isFinite(connections) && connections >= 0)) {
      throw Errors.validationFailed(`connections must be a non-negative number, got ${String(connections)}`);
    }
    if (latencyMs !== undefined && !(Number.isFinite(latencyMs) && latencyMs >= 0)) {
      throw Errors.validationFailed(`latencyMs must be a non-negative number, got ${String(latencyMs)}`);
    }
    const record = this.record(instanceId);
    if (service !== undefined) record.service = service;
    if (connections !== undefined) record.connections = connections;
    if (latencyMs !== undefined) this.observeLatency(record, latencyMs);
    return record;
  }

  /** Averages one latency sample (ms, finite, non-negative) into `record`. */
  observeLatency(record: LoadRecord, latencyMs: number): void {
    record.latencyMs = Number.isNaN(record.latencyMs)
      ? latencyMs
      : this.alpha * latencyMs + (1 - this.alpha) * record.latencyMs;
  }

  /**
   * Replaces an instance's load with figures another node computed (cluster mode): its gauge
   * and its latency average as they stood there, not one more sample to average in.
   */
  replace(instanceId: string, connections: number, latencyMs: number | null): LoadRecord {
    const record = this.record(instanceId);
    record.connections = connections;
    record.latencyMs = latencyMs ?? Number.NaN;
    return record;
  }

  /**
   * The live record of an instance, created empty when absent so that strategies can
   * hold it in their cached per-list arrays and see later reports without a lookup.
   */
  record(instanceId: string): LoadRecord {
    let record = this.records.get(instanceId);
    if (record === undefined) {
      record = new LoadRecord();
      this.records.set(instanceId, record);
    }
    return record;
  }

  peek(instanceId: string): LoadRecord | undefined {
    return this.records.get(instanceId);
  }

  /** Drops an instance. Its record is reset too, in case a cached list still holds it. */
  forget(instanceId: string): LoadRecord | undefined {
    const record = this.records.get(instanceId);
    if (record === undefined) return undefined;
    this.records.delete(instanceId);
    this.generation++;
    record.connections = 0;
    record.latencyMs = Number.NaN;
    return record;
  }

  get size(): number {
    return this.records.size;
  }
}
