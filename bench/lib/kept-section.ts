import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/**
 * A section of docs/benchmarks.md that a benchmark outside `npm run bench` writes itself (it
 * needs processes the full run does not start, such as an etcd cluster): `npm run bench` keeps
 * it as it is when it rewrites the file.
 */
export function keptSection(file: string, heading: string): string | null {
  if (!existsSync(file)) return null;
  const text = readFileSync(file, 'utf8');
  const start = text.indexOf(`\n${heading}\n`);
  if (start < 0) return null;
  const next = text.indexOf('\n## ', start + heading.length + 2);
  return text.slice(start + 1, next < 0 ? undefined : next).trim();
}

/** Replaces the section under `heading` (a `## ` line), or adds it before `before` (or at the end). */
export function writeSection(file: string, heading: string, body: string, before: string): void {
  const text = existsSync(file) ? readFileSync(file, 'utf8') : '';
  const section = `${heading}\n\n${body.trim()}\n`;
  const old = keptSection(file, heading);
  let updated: string;
  if (old !== null) updated = text.replace(old, section.trim());
  else if (text.includes(`\n${before}\n`)) updated = text.replace(`\n${before}\n`, `\n${section}\n${before}\n`);
  else updated = `${text.trimEnd()}\n\n${section}`;
  writeFileSync(file, updated);
}
