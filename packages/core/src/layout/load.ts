/** Resolves a layout argument: a built-in name or a JSON file. */
import { promises as fsp } from 'node:fs';
import { fsError, LayoutError } from '../errors.js';
import { BUILTIN_LAYOUTS, BUILTIN_LAYOUT_NAMES } from './builtin.js';
import { planLayout, type LayoutPlan } from './plan.js';
import { parseLayoutSpec } from './schema.js';
import type { LayoutSpec } from './spec.js';

export async function loadLayoutSpec(nameOrFile: string): Promise<{ spec: LayoutSpec; source: string }> {
  const builtin = BUILTIN_LAYOUTS[nameOrFile];
  if (builtin) return { spec: parseLayoutSpec(builtin, nameOrFile), source: nameOrFile };
  let text: string;
  try {
    text = await fsp.readFile(nameOrFile, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && !/[./]/.test(nameOrFile)) {
      throw new LayoutError(`unknown layout "${nameOrFile}" (built-in: ${BUILTIN_LAYOUT_NAMES.join(', ')}; or a path to a JSON file)`);
    }
    // unreadable is not invalid: an InputError in words (exit 1), as for any file that cannot be read
    throw fsError(e, nameOrFile, 'cannot read layout');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new LayoutError(`not valid JSON: ${(e as Error).message}`, { file: nameOrFile });
  }
  return { spec: parseLayoutSpec(json, nameOrFile, nameOrFile), source: nameOrFile };
}

/**
 * A layout by built-in name (`mini`, `flatcar`, …: {@link BUILTIN_LAYOUT_NAMES}) or from a JSON file,
 * checked and planned: every partition's place on the disk. LayoutError names what is wrong with a file;
 * UsageError an unknown built-in name.
 *
 * @example
 * ```ts
 * const plan = await loadLayout('flatcar');
 * for (const p of plan.partitions) console.log(p.number, p.label, p.role, p.sizeBytes);
 * ```
 */
export async function loadLayout(nameOrFile: string): Promise<LayoutPlan> {
  const { spec, source } = await loadLayoutSpec(nameOrFile);
  try {
    return planLayout(spec, source);
  } catch (e) {
    if (e instanceof LayoutError && !BUILTIN_LAYOUTS[nameOrFile]) throw new LayoutError(e.message, { file: nameOrFile });
    throw e;
  }
}
