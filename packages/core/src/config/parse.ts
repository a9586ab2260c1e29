/**
 * Build file JSON → BuildConfig, or one line naming the key path and the problem:
 *   unknown key outputs.fromat (did you mean outputs.format?)
 *   outputs.format: expected "raw" or "qemu_uefi" (the output format), got string "rwa"
 *   extensions[0]: missing "name" (expected the extension name)
 * The CLI puts the file's name in front. Pure: the caller reads the file.
 */
import { z } from 'zod';
import { InputError } from '../errors.js';
import { BUILTIN_LAYOUT_NAMES, BUILTIN_LAYOUTS } from '../layout/builtin.js';
import { nearestWord } from '../nearest.js';
import { buildConfigSchema, type BuildConfig } from './schema.js';

type KeyPath = ReadonlyArray<string | number>;

/** `extensions[0].name` from zod's ['extensions', 0, 'name']. */
export function configKeyPath(path: KeyPath): string {
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');
}

/**
 * Parses build file JSON (already `JSON.parse`d); `file` names it in the error.
 *
 * @example
 * ```ts
 * const config = parseBuildConfig({ layout: 'mini', inputs: { from: 'usr.squashfs' } }, 'imgbuild.json');
 * ```
 */
export function parseBuildConfig(json: unknown, file?: string): BuildConfig {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new InputError(`a build file is a JSON object (see imgbuild's build-config.schema.json), got ${show(json)}`, { file });
  }
  const r = buildConfigSchema.safeParse(json);
  if (r.success) {
    checkLayoutName(r.data.layout, file);
    return r.data;
  }
  // One line, one problem; a typo first, since it is the likelier cause of whatever else is wrong.
  const issue = r.error.issues.find((i) => i.code === 'unrecognized_keys') ?? r.error.issues[0];
  const more = r.error.issues.length - 1;
  throw new InputError(`${describeIssue(issue, json)}${more > 0 ? ` (and ${more} more)` : ''}`, { file });
}

/**
 * Parses build file text: JSON first, then the schema.
 *
 * @example
 * ```ts
 * const config = parseBuildConfigText('{"layout": "mini", "outputs": {"format": "raw"}}', 'imgbuild.json');
 * ```
 */
export function parseBuildConfigText(text: string, file?: string): BuildConfig {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new InputError(`not valid JSON: ${(e as Error).message}`, { file });
  }
  return parseBuildConfig(json, file);
}

/**
 * A layout is a built-in name or a file; a bare word that is neither is a mistyped name (a file would
 * have a `.json` or a folder in it), said now with the nearest built-in rather than as a missing file.
 */
function checkLayoutName(layout: string | undefined, file?: string): void {
  if (layout === undefined || Object.hasOwn(BUILTIN_LAYOUTS, layout) || /[./]/.test(layout)) return;
  const near = nearestWord(layout, BUILTIN_LAYOUT_NAMES);
  throw new InputError(`layout: unknown layout "${layout}"${near ? ` (did you mean "${near}"?)` : ''} (built-in: ${BUILTIN_LAYOUT_NAMES.join(', ')}; or a path to a layout file)`, { file });
}

function describeIssue(i: z.ZodIssue, root: unknown): string {
  if (i.code === 'unrecognized_keys') {
    const known = knownKeysAt(i.path);
    return i.keys
      .map((k) => {
        const near = nearestWord(k, known);
        return `unknown key ${configKeyPath([...i.path, k])}${near ? ` (did you mean ${configKeyPath([...i.path, near])}?)` : ''}`;
      })
      .join(', ');
  }
  const value = valueAt(root, i.path);
  const want = i.message === 'Required' ? 'a value' : i.message.replace(/^Expected /, 'expected ');
  if (value === undefined && i.path.length > 0) {
    const parent = i.path.slice(0, -1);
    return `${parent.length ? `${configKeyPath(parent)}: ` : ''}missing ${JSON.stringify(String(i.path[i.path.length - 1]))} (${want})`;
  }
  return `${configKeyPath(i.path)}: ${want}, got ${show(value)}`;
}

/** The keys the object at `path` may have, from the schema itself. */
function knownKeysAt(path: KeyPath): string[] {
  let t: z.ZodTypeAny = buildConfigSchema;
  for (const k of path) {
    t = unwrap(t);
    if (t instanceof z.ZodObject) t = (t.shape as Record<string, z.ZodTypeAny>)[String(k)];
    else if (t instanceof z.ZodArray) t = t.element;
    if (!t) return [];
  }
  t = unwrap(t);
  return t instanceof z.ZodObject ? Object.keys(t.shape) : [];
}

function unwrap(t: z.ZodTypeAny): z.ZodTypeAny {
  for (;;) {
    if (t instanceof z.ZodOptional || t instanceof z.ZodNullable) t = t.unwrap();
    else if (t instanceof z.ZodEffects) t = t.innerType();
    else return t;
  }
}

function valueAt(root: unknown, path: KeyPath): unknown {
  let v: unknown = root;
  for (const k of path) v = v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[k] : undefined;
  return v;
}

function show(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'an object';
  const s = JSON.stringify(v);
  return `${typeof v} ${s.length > 40 ? `${s.slice(0, 37)}...` : s}`;
}
