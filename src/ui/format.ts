/** Small text helpers shared by the views. */
import type { Status } from './api.js';

export function when(epochMs: number | null): string {
  if (epochMs === null || epochMs === 0) return '—';
  return new Date(epochMs)
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

export function percent(share: number): string {
  return `${(share * 100).toFixed(1)}%`;
}

/** The status word with a symbol, so it never rests on colour alone. */
export function statusLabel(status: Status | null): string {
  if (status === null) return '∅ none';
  return status === 'passing' ? '✓ passing' : status === 'warning' ? '! warning' : '✕ critical';
}
