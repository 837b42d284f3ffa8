/**
 * The settings the client's local strategy manager runs with: the server's defaults
 * (konsul.config.json `lb`; test/client-lb-config.test.ts keeps them equal) so that a
 * session key lands on the same instance here as in a `?lb=maglev&session-key=` answer,
 * with one exception: tables are built inline (buildSliceWork at its maximum), because the
 * client builds them when a list changes, off the request path (see balancer.ts), and a
 * sliced build would answer the first calls by rendezvous hashing and move sticky sessions.
 */
import type { LbConfig } from '../lb/types.js';

export const CLIENT_LB_CONFIG: LbConfig = {
  default: 'round-robin',
  enabled: [
    'round-robin',
    'weighted-round-robin',
    'random',
    'weighted-random',
    'least-connections',
    'p2c',
    'ip-hash',
    'ring-hash',
    'maglev',
    'latency-based',
  ],
  ringHash: { pointsPerWeight: 100, minRingSize: 1024, maxRingSize: 65536 },
  maglev: { tableSize: 65537 },
  latency: {},
  latencyEwmaAlpha: 0.3,
  panicThreshold: 0,
  cacheSize: 1024,
  // The server holds tables for the whole catalog in 32 MiB; a client balances a handful of services.
  cacheBytes: 8_388_608,
  buildSliceWork: 100_000_000,
  buildSliceTime: '1ms',
  // The server's defaults; the client ejects by its own outcomes (outlier-ejection.ts), not through these.
  outlierDetection: {
    consecutiveFailures: 5,
    interval: '10s',
    baseEjectionTime: '30s',
    maxEjectionTime: '5m',
    maxEjectionPercent: 10,
    successRateMinimumHosts: 5,
    successRateRequestVolume: 100,
    successRateStdevFactor: 1.9,
  },
  // The server's defaults: the client's own answers do not ramp (slow start is a catalog answer feature).
  slowStart: { window: '0s', aggression: 1, minWeightPercent: 10 },
};
