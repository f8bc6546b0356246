import { readFileSync } from 'node:fs';
import { assetPath } from './assets.js';

/** The package version, read once from package.json next to assets/. */
export const version: string = (
  JSON.parse(readFileSync(assetPath('..', 'package.json'), 'utf8')) as { version: string }
).version;
