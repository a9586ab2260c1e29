/**
 * Typed access to the 64-bit GPT partition attribute field. The A/B boot bits (priority 48-51,
 * tries 52-55, successful 56) are shared by ChromeOS cgpt, Flatcar's GRUB gptprio and Bottlerocket;
 * the UEFI and Discoverable Partitions bits are the standard ones.
 */
import { UsageError } from '../errors.js';

export const ATTR = {
  required: 0,
  noBlockIo: 1,
  legacyBiosBootable: 2,
  priority: 48, // 4 bits
  tries: 52, // 4 bits
  successful: 56,
  /** ChromeOS error counter / Bottlerocket "has booted ever". */
  errorCounter: 57,
  growFs: 59,
  readOnly: 60,
  noAuto: 63,
} as const;

/**
 * A named bit of a partition's 64 attribute bits (UEFI's, ChromeOS's and the Discoverable Partitions').
 *
 * @example
 * ```ts
 * getFlag(entry.attributes, 'readOnly');
 * ```
 */
export type FlagName = 'required' | 'noBlockIo' | 'legacyBiosBootable' | 'successful' | 'errorCounter' | 'growFs' | 'readOnly' | 'noAuto';
export const FLAG_NAMES: readonly FlagName[] = ['required', 'noBlockIo', 'legacyBiosBootable', 'successful', 'errorCounter', 'growFs', 'readOnly', 'noAuto'];

/**
 * Whether a named attribute bit is set.
 *
 * @example
 * ```ts
 * getFlag(1n << 60n, 'readOnly'); // true
 * ```
 */
export function getFlag(attrs: bigint, flag: FlagName): boolean {
  return ((attrs >> BigInt(ATTR[flag])) & 1n) === 1n;
}

/**
 * The attribute bits with one named bit set or cleared.
 *
 * @example
 * ```ts
 * const attrs = setFlag(entry.attributes, 'noAuto', true);
 * ```
 */
export function setFlag(attrs: bigint, flag: FlagName, on: boolean): bigint {
  const bit = 1n << BigInt(ATTR[flag]);
  return on ? attrs | bit : attrs & ~bit;
}

function getNibble(attrs: bigint, shift: number): number {
  return Number((attrs >> BigInt(shift)) & 0xfn);
}

function setNibble(attrs: bigint, shift: number, value: number, name: string): bigint {
  if (!Number.isInteger(value) || value < 0 || value > 15) {
    throw new UsageError(`${name} must be an integer 0-15, got ${value}`);
  }
  return (attrs & ~(0xfn << BigInt(shift))) | (BigInt(value) << BigInt(shift));
}

/**
 * The A/B boot bits as a value: what the slot state machine works on.
 *
 * @example
 * ```ts
 * const bits: BootBits = getBootBits(entry.attributes);
 * console.log(bits.priority, bits.tries, bits.successful);
 * ```
 */
export interface BootBits {
  priority: number;
  tries: number;
  successful: boolean;
}

/**
 * The A/B boot bits (priority, tries, successful: bits 48-56, the ChromeOS/Flatcar scheme) of an attribute value.
 *
 * @example
 * ```ts
 * getBootBits(0x0101000000000000n); // { priority: 1, tries: 0, successful: true }
 * ```
 */
export function getBootBits(attrs: bigint): BootBits {
  return {
    priority: getNibble(attrs, ATTR.priority),
    tries: getNibble(attrs, ATTR.tries),
    successful: getFlag(attrs, 'successful'),
  };
}

/**
 * Writes the boot bits into `attrs`, leaving every other bit as it was.
 *
 * @example
 * ```ts
 * setBootBits(0n, { priority: 2, tries: 1, successful: false }).toString(16); // '12000000000000'
 * ```
 */
export function setBootBits(attrs: bigint, bits: BootBits): bigint {
  let a = setNibble(attrs, ATTR.priority, bits.priority, 'priority');
  a = setNibble(a, ATTR.tries, bits.tries, 'tries');
  return setFlag(a, 'successful', bits.successful);
}

/**
 * Boots started since a slot's last healthy boot (0-6), or 7 once the selector demoted the slot. Three
 * bits no scheme we know uses: 58, 61, 62, lowest first (57 is ChromeOS's error counter; 59, 60, 63
 * the Discoverable Partitions' growfs, read-only and no-auto). The selector's src/attempts.c reads the
 * same bits; slot/attempts.ts holds the rules.
 */
export const ATTEMPT_BITS = [58, 61, 62] as const;
export const ATTEMPTS_MAX = 6;
export const ATTEMPTS_DEMOTED = 7;

export function getAttempts(attrs: bigint): number {
  return ATTEMPT_BITS.reduce((v, bit, i) => v | (Number((attrs >> BigInt(bit)) & 1n) << i), 0);
}

export function setAttempts(attrs: bigint, attempts: number): bigint {
  if (!Number.isInteger(attempts) || attempts < 0 || attempts > ATTEMPTS_DEMOTED) throw new UsageError(`attempts must be an integer 0-7, got ${attempts}`);
  return ATTEMPT_BITS.reduce((a, bit, i) => (a & ~(1n << BigInt(bit))) | (BigInt((attempts >> i) & 1) << BigInt(bit)), attrs);
}

/**
 * A slot can boot when it has priority and either tries left or a successful boot behind it.
 *
 * @example
 * ```ts
 * canBoot({ priority: 1, tries: 0, successful: true }); // true
 * canBoot({ priority: 0, tries: 3, successful: false }); // false
 * ```
 */
export function canBoot(bits: BootBits): boolean {
  return bits.priority > 0 && (bits.tries > 0 || bits.successful);
}

/**
 * Every named bit decoded, for `gpt show --json` (`attributeBits`, beside the raw `attributes`).
 *
 * @example
 * ```ts
 * describeAttributes(0x0101000000000000n); // { …, priority: 1, tries: 0, successful: true, … }
 * ```
 */
export function describeAttributes(attrs: bigint): Record<string, number | boolean> {
  const out: Record<string, number | boolean> = {};
  for (const f of FLAG_NAMES) out[f] = getFlag(attrs, f);
  const b = getBootBits(attrs);
  out.priority = b.priority;
  out.tries = b.tries;
  return out;
}

/** Parses attribute input from a layout: a number, a hex string, or a list of names / key=value. */
export function parseAttributes(spec: unknown): bigint {
  if (spec === undefined || spec === null) return 0n;
  if (typeof spec === 'number') return BigInt(spec);
  if (typeof spec === 'string') {
    if (!/^(0x[0-9a-f]+|\d+)$/i.test(spec)) throw new UsageError(`bad attribute value ${JSON.stringify(spec)}`);
    return BigInt(spec);
  }
  if (typeof spec === 'object' && !Array.isArray(spec)) {
    let a = 0n;
    for (const [k, v] of Object.entries(spec as Record<string, unknown>)) {
      if (k === 'priority' || k === 'tries') a = setNibble(a, ATTR[k], Number(v), k);
      else if ((FLAG_NAMES as readonly string[]).includes(k)) a = setFlag(a, k as FlagName, Boolean(v));
      else if (k === 'bits' && Array.isArray(v)) for (const bit of v) a |= 1n << BigInt(Number(bit));
      else throw new UsageError(`unknown attribute ${JSON.stringify(k)}`);
    }
    return a;
  }
  throw new UsageError(`bad attributes ${JSON.stringify(spec)}`);
}
