import { readFileSync } from 'node:fs';

/** The version in package.json, read once: the start-up line and konsul_build_info carry it. */
export const VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
