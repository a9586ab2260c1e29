/**
 * The layout file format as a zod schema: every layout, built-in or from a file, passes through
 * `parseLayoutSpec` before it is planned. Objects are strict, so a typo (`"sise"`, `"atributes"`) is
 * an error instead of a silently ignored key; each error names the key path and what was expected.
 *
 * The shape checks live here; the rules that need the whole layout (overlaps, alignment, pairs,
 * duplicate GUIDs) stay in `plan.ts`, which names the partition.
 */
import { z } from 'zod';
import { LayoutError } from '../errors.js';
import { FLAG_NAMES } from '../gpt/attributes.js';
import { ZERO_GUID } from '../guid.js';
import { nearestWord } from '../nearest.js';
import { ROLES, type LayoutSpec } from './spec.js';

const SIZE_RE = /^\s*\d+(?:\.\d+)?\s*(?:b|k|kb|kib|m|mb|mib|g|gb|gib|t|tb|tib)?\s*$/i;
const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const HEX_OR_DEC_RE = /^(0x[0-9a-f]+|\d+)$/i;

/** What a field takes, in the words the error uses: "expected <what>". */
const WANT = {
  size: 'a size: bytes as a number, a string such as "128MiB", { "sectors": N }',
  guid: 'a GUID such as "7130c94a-213a-4e5a-8e26-6cce9662f132"',
  attributes: 'attributes: { "priority": 0-15, "tries": 0-15, "successful": true, ... }, a number or a hex string',
};

// Messages carry the expectation; `formatIssue` adds the key path and what was found.
const str = (what: string) => z.string({ invalid_type_error: `expected ${what}`, required_error: `expected ${what}` });
const int = (what: string) =>
  z.number({ invalid_type_error: `expected ${what}`, required_error: `expected ${what}` }).int({ message: `expected ${what}` });
const bool = (what: string) => z.boolean({ invalid_type_error: `expected ${what}`, required_error: `expected ${what}` });

const guid = str(WANT.guid)
  .regex(GUID_RE, { message: `expected ${WANT.guid}` })
  // GPT marks unused entries with the nil type GUID; a nil PARTUUID or disk GUID names nothing.
  .refine((g) => g !== ZERO_GUID, { message: 'is the nil GUID (all zeros), which names nothing; remove it to derive one from the seed' });

const sectorsObject = z
  .object({ sectors: int('a positive whole number of sectors').positive({ message: 'expected a positive whole number of sectors' }) })
  .strict();

/**
 * A size in any documented form. The forms are told apart by JSON type first, so an error speaks
 * about the form the user wrote ("unknown key" inside `{ "sectors": N }`) instead of listing all.
 */
function sizeSchema(opts: { rest: boolean; auto: boolean }) {
  const extra = [opts.rest ? '"rest"' : '', opts.auto ? '"auto"' : ''].filter(Boolean);
  const what = `${WANT.size}${extra.length ? ` or ${extra.join(' or ')}` : ''}`;
  return oneOf<string | number | { sectors: number }>(what, {
    number: int('a whole number of bytes').nonnegative({ message: 'expected a non-negative number of bytes' }),
    string: z.string().refine((s) => (opts.rest && s === 'rest') || (opts.auto && s === 'auto') || SIZE_RE.test(s), {
      message: `cannot parse size (expected ${what}; units B, KiB, MiB, GiB, TiB, KB, MB, GB, TB)`,
    }),
    object: sectorsObject,
  });
}

const attributesObject = z
  .object({
    priority: int('a priority 0-15').min(0, { message: 'expected a priority 0-15' }).max(15, { message: 'expected a priority 0-15' }),
    tries: int('tries 0-15').min(0, { message: 'expected tries 0-15' }).max(15, { message: 'expected tries 0-15' }),
    bits: z.array(int('a bit number 0-63').min(0, { message: 'expected a bit number 0-63' }).max(63, { message: 'expected a bit number 0-63' }), {
      invalid_type_error: 'expected a list of bit numbers 0-63',
    }),
    // successful, readOnly, legacyBiosBootable, ...: the named single-bit flags of gpt/attributes.ts
    ...Object.fromEntries(FLAG_NAMES.map((f) => [f, bool('true or false')])),
  })
  .partial()
  .strict();

const attributesSchema = oneOf(WANT.attributes, {
  number: int('a whole number').nonnegative({ message: 'expected a non-negative whole number' }),
  string: z.string().regex(HEX_OR_DEC_RE, { message: `expected ${WANT.attributes}` }),
  object: attributesObject,
});

const partitionSchema = z
  .object(
    {
      number: int('a partition number (1, 2, ...)').positive({ message: 'expected a partition number (1, 2, ...)' }),
      label: str('a label string').min(1, { message: 'expected a non-empty label' }),
      type: str('a type GUID or alias (efi, flatcar-usr, usr-x86-64, ...)').min(1, { message: 'expected a type GUID or alias' }),
      uuid: guid.optional(),
      size: sizeSchema({ rest: true, auto: false }),
      start: int('a start sector').nonnegative({ message: 'expected a non-negative start sector' }).optional(),
      attributes: attributesSchema.optional(),
      role: z.enum(ROLES as [string, ...string[]], { errorMap: () => ({ message: `expected a role: one of ${ROLES.join(', ')}` }) }).optional(),
    },
    { invalid_type_error: 'expected a partition object { "number", "label", "type", "size", ... }' },
  )
  .strict();

export const layoutSchema = z
  .object({
    name: str('a name string').optional(),
    description: str('a description string').optional(),
    sectorSize: int('512 or 4096')
      .refine((n) => n === 512 || n === 4096, { message: 'expected 512 or 4096' })
      .optional(),
    alignment: sizeSchema({ rest: false, auto: false }).optional(),
    diskSize: sizeSchema({ rest: false, auto: true }).optional(),
    diskGuid: guid.optional(),
    entryCount: int('an entry count 4-1024').min(4, { message: 'expected an entry count 4-1024' }).max(1024, { message: 'expected an entry count 4-1024' }).optional(),
    partitions: z.array(partitionSchema, { invalid_type_error: 'expected a list of partitions', required_error: 'expected a list of partitions' }),
  })
  .strict();

/**
 * Checks `json` (a parsed layout file or a built-in) against the schema. Throws a LayoutError whose
 * one line is `<source>: <key path>: <problem>`, e.g. `my.json: partitions[2]: unknown key "sise"`.
 */
export function parseLayoutSpec(json: unknown, source: string, file?: string): LayoutSpec {
  const r = layoutSchema.safeParse(json);
  if (r.success) return json as LayoutSpec; // the input itself: the schema only checks, planLayout interprets
  // One line, one problem. A typo first: `"sise"` also makes "size" missing, and the typo is the cause.
  const issue = r.error.issues.find(isUnknownKey) ?? r.error.issues[0];
  throw new LayoutError(`${source}: ${formatIssue(issue, json)}`, { file });
}

// --- helpers ------------------------------------------------------------------------------------------

type JsonKind = 'number' | 'string' | 'object';

/** A field taking several JSON types: the value's own type picks the schema that judges it. */
function oneOf<T>(what: string, by: Partial<Record<JsonKind, z.ZodTypeAny>>) {
  return z.custom<T>().superRefine((v, ctx) => {
    const kind = v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
    const schema = by[kind as JsonKind];
    if (v === undefined) return void ctx.addIssue({ code: 'custom', message: `expected ${what}`, params: { missing: true } });
    if (!schema) return void ctx.addIssue({ code: 'custom', message: `expected ${what}`, params: { wrongType: true } });
    const r = schema.safeParse(v);
    if (r.success) return;
    for (const i of r.error.issues) {
      // The path inside the value is not enough to name the object the key belongs to; word it here.
      const message = i.code === 'unrecognized_keys' ? unknownKeyText(i.keys, [...ctx.path, ...i.path]) : issueText(i, v);
      ctx.addIssue({ path: i.path, code: 'custom', message, params: { worded: true, unknownKey: i.code === 'unrecognized_keys' } });
    }
  });
}

const isUnknownKey = (i: z.ZodIssue) => i.code === 'unrecognized_keys' || (i.code === 'custom' && i.params?.unknownKey === true);

/** The keys an object at `path` may have, for "did you mean". */
function knownKeys(path: readonly (string | number)[]): string[] {
  const last = path[path.length - 1];
  if (path.length === 0) return Object.keys(layoutSchema.shape);
  if (path.length === 2 && path[0] === 'partitions') return Object.keys(partitionSchema.shape);
  if (last === 'attributes') return Object.keys(attributesObject.shape);
  return Object.keys(sectorsObject.shape);
}

function unknownKeyText(keys: string[], path: readonly (string | number)[]): string {
  const known = knownKeys(path);
  return keys
    .map((k) => {
      const near = nearestWord(k, known);
      return `unknown key ${JSON.stringify(k)}${near ? ` (did you mean ${JSON.stringify(near)}?)` : ''}`;
    })
    .join(', ');
}

/** `partitions[2].attributes` from zod's ['partitions', 2, 'attributes']. */
export function keyPath(path: readonly (string | number)[]): string {
  return path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i === 0 ? k : `.${k}`)).join('');
}

function valueAt(root: unknown, path: readonly (string | number)[]): unknown {
  let v: unknown = root;
  for (const k of path) v = v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[k] : undefined;
  return v;
}

function show(v: unknown): string {
  const kind = v === null ? 'null' : Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : typeof v;
  if (v === null || Array.isArray(v) || typeof v === 'object') return kind;
  const s = JSON.stringify(v);
  return `${kind} ${s.length > 40 ? s.slice(0, 37) + '...' : s}`;
}

/** The problem in words, without the path. */
function issueText(i: z.ZodIssue, root: unknown): string {
  if (i.code === 'custom' && i.params?.worded) return i.message; // already worded by oneOf
  if (i.code === 'unrecognized_keys') return unknownKeyText(i.keys, i.path);
  const v = valueAt(root, i.path);
  if (v === undefined && i.path.length > 0) return `missing (${i.message})`;
  if (i.code === 'invalid_type' || (i.code === 'custom' && i.params?.wrongType)) return `${i.message}, got ${show(v)}`;
  if (/^(expected|cannot)/.test(i.message)) return `${i.message}, got ${show(v)}`;
  return i.message;
}

function formatIssue(i: z.ZodIssue, root: unknown): string {
  if (i.path.length === 0 && i.code === 'invalid_type') return `a layout is a JSON object with a "partitions" list, got ${show(root)}`;
  const v = valueAt(root, i.path);
  // A missing key is reported at its parent: `partitions[1]: missing "size" (expected a size: ...)`.
  if (v === undefined && i.path.length > 0) {
    const parent = i.path.slice(0, -1);
    const key = String(i.path[i.path.length - 1]);
    return `${parent.length ? `${keyPath(parent)}: ` : ''}missing ${JSON.stringify(key)} (${i.message.replace(/^missing \((.*)\)$/, '$1')})`;
  }
  return `${i.path.length ? `${keyPath(i.path)}: ` : ''}${issueText(i, root)}`;
}
