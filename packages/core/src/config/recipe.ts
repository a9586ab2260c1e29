/**
 * A recipe makes a build's inputs (the example OS: os/debian/build.sh). Its contract is its stdout:
 * lines `usr=PATH`, `root=PATH`, `kernel=PATH`, `initrd=PATH`, `version=V`, each optional, the last of
 * each counting; other lines are ignored. What the recipe gives fills only what the build file and
 * the flags leave unset. Pure: running it is config/build.ts's job.
 */
import { resolve } from 'node:path';
import type { ResolvedBuildConfig } from './schema.js';

export interface RecipeOutputs {
  usr?: string;
  root?: string;
  kernel?: string;
  initrd?: string;
  version?: string;
}

const KEYS = ['usr', 'root', 'kernel', 'initrd', 'version'] as const;

/** The recipe's stdout → its outputs, paths against `cwd` (where it ran). */
export function parseRecipeOutput(stdout: string, cwd: string): RecipeOutputs {
  const out: RecipeOutputs = {};
  for (const line of stdout.split('\n')) {
    const m = /^([a-z]+)=(.*)$/.exec(line.trim());
    if (!m || !(KEYS as readonly string[]).includes(m[1]) || m[2] === '') continue;
    const key = m[1] as (typeof KEYS)[number];
    out[key] = key === 'version' ? m[2] : resolve(cwd, m[2]);
  }
  return out;
}

/** The configuration with the recipe's outputs in what it leaves unset (a /usr only when neither inputs.from nor inputs.fromDir is set). */
export function applyRecipeOutputs(c: ResolvedBuildConfig, r: RecipeOutputs): ResolvedBuildConfig {
  const i = c.inputs;
  return {
    ...c,
    version: c.version ?? r.version ?? null,
    inputs: {
      ...i,
      from: i.from ?? (i.fromDir ? null : (r.usr ?? null)),
      rootTree: i.rootTree ?? r.root ?? null,
      kernel: i.kernel ?? r.kernel ?? null,
      initrd: i.initrd ?? r.initrd ?? null,
    },
  };
}
