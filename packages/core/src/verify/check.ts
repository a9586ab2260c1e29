/**
 * One verify check: a region of the image (mbr, gpt.primary, slot A, esp, ...), what was compared,
 * and both values. `fail` is the only status that makes verify fail; `state` is what may change at
 * boot (the slots' boot bits), `not-covered` names what verify deliberately does not prove.
 *
 * @example
 * ```ts
 * const failed = (await verifyImage({ image: 'disk.raw' })).checks.filter((c) => c.status === 'fail');
 * ```
 */
export type CheckStatus = 'ok' | 'fail' | 'state' | 'not-covered' | 'info';
/**
 * A value a check compared: a digest, a count, a name, or nothing.
 *
 * @example
 * ```ts
 * for (const c of v.checks) if (!c.ok) console.log(`expected ${c.expected}, found ${c.found}`);
 * ```
 */
export type CheckValue = string | number | null;

/**
 * One check of {@link verifyImage}: the region of the image (`mbr`, `gpt.primary`, `slot A`, `esp`, …),
 * what was compared, and both values.
 *
 * @example
 * ```ts
 * const v = await verifyImage({ image: 'disk.raw' });
 * for (const c of v.checks) console.log(c.status, c.region, c.name, c.detail);
 * ```
 */
export interface ImageCheck {
  region: string;
  name: string;
  status: CheckStatus;
  /** false only for status 'fail'. */
  ok: boolean;
  expected: CheckValue;
  found: CheckValue;
  detail: string;
}

function make(status: CheckStatus, region: string, name: string, expected: CheckValue, found: CheckValue, detail: string): ImageCheck {
  return { region, name, status, ok: status !== 'fail', expected, found, detail };
}

export const pass = (region: string, name: string, detail: string, value: CheckValue = null): ImageCheck => make('ok', region, name, value, value, detail);
export const state = (region: string, name: string, detail: string, found: CheckValue = null): ImageCheck => make('state', region, name, null, found, detail);
export const notCovered = (region: string, name: string, detail: string): ImageCheck => make('not-covered', region, name, null, null, detail);
export const info = (region: string, name: string, detail: string, found: CheckValue = null): ImageCheck => make('info', region, name, null, found, detail);

/** A mismatch; the detail says both values unless the caller has something better to say. */
export function fail(region: string, name: string, expected: CheckValue, found: CheckValue, detail?: string): ImageCheck {
  const show = (v: CheckValue) => (v === null ? 'nothing' : String(v));
  return make('fail', region, name, expected, found, detail ?? `expected ${show(expected)}, found ${show(found)}`);
}

/**
 * Field-by-field comparison of two records: one FAIL per differing field (named `${prefix}${key}`),
 * or one ok line naming how many fields matched.
 */
export function compareFields<T extends object>(
  region: string,
  name: string,
  expected: T,
  found: T,
  keys: ReadonlyArray<keyof T & string>,
  o: { prefix?: string; sources?: [string, string] } = {},
): ImageCheck[] {
  const out: ImageCheck[] = [];
  const prefix = o.prefix ?? `${name} `;
  for (const k of keys) {
    const e = (expected[k] ?? null) as CheckValue;
    const f = (found[k] ?? null) as CheckValue;
    if (e === f) continue;
    const detail = o.sources ? `expected ${e ?? 'nothing'} (${o.sources[0]}), found ${f ?? 'nothing'} (${o.sources[1]})` : undefined;
    out.push(fail(region, `${prefix}${k}`, e, f, detail));
  }
  return out.length ? out : [pass(region, name, `${keys.length} fields as built`)];
}

/**
 * One line of text output: `ok   gpt.primary: header: 10 fields as built`.
 *
 * @example
 * ```ts
 * const v = await verifyImage({ image: 'disk.raw' });
 * console.log(v.checks.map(formatCheck).join('\n')); // ok    gpt.primary: header: 10 fields as built …
 * ```
 */
export function formatCheck(c: ImageCheck): string {
  const tag = { ok: 'ok', fail: 'FAIL', state: 'state', 'not-covered': 'not covered:', info: 'info' }[c.status];
  return `${tag.padEnd(5)} ${c.region}: ${c.name}: ${c.detail}`;
}
