#!/usr/bin/env node
// Committed so npm links the command at install time, before `npm run build` creates dist/.
// Runs the bundle (packages/cli/scripts/bundle.mjs: one file for start-up, one chunk per command);
// the plain tsc output when only `tsc -b` has run.
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/bundle/imgbuild.js', import.meta.url);
await import(existsSync(bundle) ? bundle.href : '../dist/bin.js');
