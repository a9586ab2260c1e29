/**
 * GUIDs as GPT stores them: the first three fields little-endian, the last two big-endian ("mixed
 * endian"), and seed-derived GUIDs the way systemd-repart makes them reproducible.
 */
import { createHmac } from 'node:crypto';
import { UsageError } from './errors.js';

const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/**
 * The all-zero GUID: an unused GPT entry's type.
 *
 * @example
 * ```ts
 * const unused = table.entries.filter((e) => e.type === ZERO_GUID).length;
 * ```
 */
export const ZERO_GUID = '00000000-0000-0000-0000-000000000000';

export function isGuid(s: string): boolean {
  return GUID_RE.test(s.toLowerCase());
}

export function normalizeGuid(s: string): string {
  const g = s.toLowerCase();
  if (!GUID_RE.test(g)) throw new UsageError(`not a GUID: ${s}`);
  return g;
}

/** Encodes a textual GUID into its 16-byte GPT (mixed-endian) form. */
export function encodeGuid(guid: string): Buffer {
  const hex = normalizeGuid(guid).replace(/-/g, '');
  const b = Buffer.from(hex, 'hex');
  // The first three fields are stored little-endian.
  b.subarray(0, 4).reverse();
  b.subarray(4, 6).reverse();
  b.subarray(6, 8).reverse();
  return b;
}

/** Decodes 16 bytes in GPT (mixed-endian) form into a lowercase textual GUID. */
export function decodeGuid(bytes: Uint8Array, offset = 0): string {
  const b = Buffer.from(bytes.subarray(offset, offset + 16));
  b.subarray(0, 4).reverse();
  b.subarray(4, 6).reverse();
  b.subarray(6, 8).reverse();
  const h = b.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Formats 16 raw bytes (big-endian, RFC 4122 byte order) as text. */
export function bytesToUuid(b: Uint8Array): string {
  const h = Buffer.from(b.subarray(0, 16)).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Parses text into 16 raw bytes in RFC 4122 order (as the verity superblock stores its uuid). */
export function uuidToBytes(uuid: string): Buffer {
  return Buffer.from(normalizeGuid(uuid).replace(/-/g, ''), 'hex');
}

/**
 * HMAC-SHA256(seed, message) truncated to 16 bytes and marked as a version-4 variant-1 UUID, as
 * systemd-repart derives partition and disk UUIDs from its --seed.
 *
 * @example
 * ```ts
 * deriveUuid('my-seed', 'usr-a'); // the same v4 UUID for the same seed and message, every time
 * ```
 */
export function deriveUuid(seed: string | Uint8Array, message: string | Uint8Array): string {
  const mac = createHmac('sha256', seed).update(message).digest();
  mac[6] = (mac[6] & 0x0f) | 0x40;
  mac[8] = (mac[8] & 0x3f) | 0x80;
  return bytesToUuid(mac);
}

/**
 * A seed the user gave: undefined (derive one) or a non-empty string. An empty `--seed ""` is most
 * likely an unset shell variable, and would make every image that shares it share its GUIDs.
 *
 * @example
 * ```ts
 * checkSeed(process.env.SEED); // UsageError on an empty seed
 * ```
 */
export function checkSeed(seed: string | undefined, flag = '--seed'): void {
  if (seed !== undefined && seed.trim() === '') throw new UsageError(`${flag} is empty: give a non-empty seed, or leave it out to derive one from the inputs`);
}

/**
 * Arbitrary-length deterministic bytes from the seed (salts, FAT volume ids).
 *
 * @example
 * ```ts
 * const salt = deriveBytes('my-seed', 'verity salt', 32);
 * ```
 */
export function deriveBytes(seed: string | Uint8Array, label: string, length: number): Buffer {
  const out: Buffer[] = [];
  let have = 0;
  for (let counter = 0; have < length; counter++) {
    // The first block is plain HMAC(seed, label), as systemd-repart derives its verity salt.
    const mac = createHmac('sha256', seed).update(label);
    if (counter > 0) mac.update(counterBytes(counter));
    const block = mac.digest();
    out.push(block);
    have += block.length;
  }
  return Buffer.concat(out).subarray(0, length);
}

function counterBytes(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt(n));
  return b;
}
