import { Counter, Gauge, type Registry } from 'prom-client';
import type { JoinedAnswers } from './joined-answers.js';

/** The answer cache's figures (joined-answers.ts), read at scrape time: nothing is counted per request. */
export function registerAnswerCacheMetrics(registry: Registry, answers: JoinedAnswers): void {
  new Gauge({
    name: 'konsul_http_answer_cache_bytes',
    help: 'Bytes charged to long answer bodies kept for reuse (bounded by http.answerCacheBytes)',
    registers: [registry],
    collect() {
      this.set(answers.stats().bytes);
    },
  });
  new Gauge({
    name: 'konsul_http_answer_cache_entries',
    help: 'Long answer bodies kept for reuse',
    registers: [registry],
    collect() {
      this.set(answers.stats().entries);
    },
  });
  new Counter({
    name: 'konsul_http_answer_cache_lookups_total',
    help: 'Long answers looked up among the kept bodies, by result (hit: the kept body was sent; miss: built anew)',
    labelNames: ['result'],
    registers: [registry],
    collect() {
      const stats = answers.stats();
      // The cache holds the counts; a counter set on scrape keeps it a counter for Prometheus.
      this.reset();
      this.inc({ result: 'hit' }, stats.hits);
      this.inc({ result: 'miss' }, stats.misses);
    },
  });
  new Counter({
    name: 'konsul_http_answer_cache_evictions_total',
    help: 'Kept answer bodies dropped to stay within http.answerCacheBytes (least recently used first)',
    registers: [registry],
    collect() {
      this.reset();
      this.inc(answers.stats().evictions);
    },
  });
}
