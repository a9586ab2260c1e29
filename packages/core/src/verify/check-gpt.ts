/**
 * The protective MBR and both GPT copies, byte for byte except the USR slots' boot bits: each header's
 * fields, its CRC and reserved bytes, the entry array's CRC and masked digest, and every entry (the
 * manifest's partitions field by field, any other entry that is not all zero as unexpected).
 */
import { promises as fsp } from 'node:fs';
import { crc32 } from '../gpt/header.js';
import { getBootBits } from '../gpt/attributes.js';
import { ZERO_GUID } from '../guid.js';
import type { ImageManifest } from '../manifest/manifest.js';
import { sha256Buffer } from '../manifest/manifest.js';
import { compareFields, fail, notCovered, pass, state, type ImageCheck } from './check.js';
import { partName } from './coverage.js';
import { digestRanges, readBytes } from './digest.js';
import { decodeRawHeader, type RawGptHeader } from '../gpt/header.js';
import { BOOT_BITS_MASK, HEADER_FIELDS, maskBootBits, rawEntries } from './gpt-raw.js';
import { attributesHex } from '../gpt/record.js';

/** The image's size: bytes appended past the disk the GPT describes would be covered by nothing. */
export async function checkDiskSize(image: string, m: ImageManifest): Promise<ImageCheck[]> {
  const size = (await fsp.stat(image)).size;
  return [size === m.disk.bytes ? pass('disk', 'size', `${size} bytes as built`, size) : fail('disk', 'size', m.disk.bytes, size)];
}

export async function checkProtectiveMbr(image: string, m: ImageManifest): Promise<ImageCheck[]> {
  if (!m.protectiveMbr) return [notCovered('mbr', 'LBA 0', `manifest version ${m.upgradedFrom ?? 2} did not record the protective MBR`)];
  const d = await digestRanges(image, [[0, m.disk.sectorSize]]);
  return [d.sha256 === m.protectiveMbr.sha256 ? pass('mbr', 'LBA 0', 'sha256 as built', d.sha256) : fail('mbr', 'LBA 0 sha256', m.protectiveMbr.sha256, d.sha256)];
}

function slotNumbers(m: ImageManifest): number[] {
  return m.partitions.filter((p) => p.role === 'usr-slot').map((p) => p.number);
}

/** Header sanity that does not depend on the manifest: signature, CRC, reserved bytes. */
function headerIntegrity(region: string, h: RawGptHeader): ImageCheck[] {
  const out: ImageCheck[] = [];
  if (h.signature !== 'EFI PART') out.push(fail(region, 'header signature', 'EFI PART', JSON.stringify(h.signature).slice(1, -1)));
  if (h.headerCrc32 !== h.headerCrcComputed) out.push(fail(region, 'header CRC32', h.headerCrcComputed, h.headerCrc32, `stored ${h.headerCrc32}, but the header's bytes give ${h.headerCrcComputed}`));
  if (!h.reservedZero) out.push(fail(region, 'header reserved bytes', 'zero', 'non-zero', 'bytes 20..24 or after the header are not zero'));
  return out;
}

/** The header's recorded fields; for a version-1 manifest only the disk GUID is known. */
function headerFields(region: string, which: 'primary' | 'backup', h: RawGptHeader, m: ImageManifest): ImageCheck[] {
  const want = m.gpt?.[which];
  if (want) return compareFields(region, 'header', want, h, HEADER_FIELDS);
  return [
    h.diskGuid === m.disk.guid ? pass(region, 'header diskGuid', 'as built', h.diskGuid) : fail(region, 'header diskGuid', m.disk.guid, h.diskGuid),
    notCovered(region, 'header', 'manifest version 1 recorded only the disk GUID'),
  ];
}

/** One manifest partition against its entry; slot boot bits are masked on both sides. */
function entryFields(region: string, array: ReturnType<typeof rawEntries>, p: ImageManifest['partitions'][number]): ImageCheck[] {
  const e = array[p.number - 1];
  if (!e || e.type === ZERO_GUID) return [fail(region, partName(p), 'a partition', 'an unused entry', `missing: entry ${p.number} is unused`)];
  const slot = p.role === 'usr-slot';
  const mask = (a: string | bigint) => attributesHex(slot ? BigInt(a) & ~BOOT_BITS_MASK : BigInt(a));
  const want = { type: p.type, uuid: p.uuid, label: p.label, firstLba: p.firstLba, lastLba: p.lastLba, attributes: p.attributes === undefined ? undefined : mask(p.attributes) };
  const got = { type: e.type, uuid: e.uuid, label: e.name, firstLba: e.firstLba, lastLba: e.lastLba, attributes: p.attributes === undefined ? undefined : mask(e.attributes) };
  const keys = ['type', 'uuid', 'label', 'firstLba', 'lastLba', ...(p.attributes === undefined ? [] : ['attributes'])] as Array<keyof typeof want>;
  const out = compareFields(region, partName(p), want, got, keys);
  if (out.length === 1 && out[0].ok) out[0] = pass(region, partName(p), slot ? 'as built (boot bits aside)' : 'as built');
  return out;
}

/** Entries the manifest does not list must be all zero. */
function extraEntries(region: string, m: ImageManifest, array: ReturnType<typeof rawEntries>): ImageCheck[] {
  const listed = new Set(m.partitions.map((p) => p.number));
  return array
    .filter((e) => !listed.has(e.number) && !e.zero)
    .map((e) =>
      e.type === ZERO_GUID
        ? fail(region, `entry ${e.number}`, 'all zero', 'non-zero bytes', 'an unused entry holds non-zero bytes')
        : fail(region, `unexpected partition ${e.number}`, null, e.type, `unexpected partition ${e.number} "${e.name}" (type ${e.type}, LBA ${e.firstLba}-${e.lastLba})`),
    );
}

/** The slots' boot bits: state, never a failure. The backup only when it disagrees with the primary. */
function bootBits(region: string, m: ImageManifest, array: ReturnType<typeof rawEntries>, primary?: ReturnType<typeof rawEntries>): ImageCheck[] {
  const out: ImageCheck[] = [];
  for (const p of m.partitions.filter((q) => q.role === 'usr-slot')) {
    const e = array[p.number - 1];
    if (!e) continue;
    const b = getBootBits(e.attributes);
    const text = `priority ${b.priority}, tries ${b.tries}, successful ${b.successful ? 1 : 0}`;
    const other = primary?.[p.number - 1];
    if (!primary) out.push(state(region, `${partName(p)} boot bits`, text, text));
    else if (!other || JSON.stringify(getBootBits(other.attributes)) !== JSON.stringify(b)) {
      out.push(state(region, `${partName(p)} boot bits`, `${text}: differs from the primary copy (imgbuild gpt repair makes them agree)`, text));
    }
  }
  return out;
}

export interface GptCopyResult {
  checks: ImageCheck[];
  entries?: ReturnType<typeof rawEntries>;
}

/** One copy of the GPT: header, array CRC, masked digest, entries. */
export async function checkGptCopy(image: string, m: ImageManifest, which: 'primary' | 'backup', primary?: ReturnType<typeof rawEntries>): Promise<GptCopyResult> {
  const region = `gpt.${which}`;
  const ss = m.disk.sectorSize;
  const lba = m.gpt?.[which].myLba ?? (which === 'primary' ? 1 : m.disk.totalSectors - 1);
  const h = decodeRawHeader(await readBytes(image, lba * ss, ss));
  const checks = [...headerIntegrity(region, h), ...headerFields(region, which, h, m)];
  // The array is read where the manifest says it is, in the manifest's geometry: a header pointing
  // elsewhere has already failed above, and the bytes that were built must still be there.
  const geo = m.gpt?.[which] ?? h;
  if (geo.entrySize < 128 || geo.entrySize > 4096 || geo.entryCount < 1 || geo.entryCount > 65536) {
    return { checks: [...checks, fail(region, 'entry array', 'a valid entry count and size', `${geo.entryCount} x ${geo.entrySize}`)] };
  }
  const raw = await readBytes(image, geo.entriesLba * ss, geo.entryCount * geo.entrySize);
  const crc = crc32(raw);
  checks.push(crc === h.entriesCrc32 ? pass(region, 'entry array CRC32', 'matches the header') : fail(region, 'entry array CRC32', crc, h.entriesCrc32, `the header stores ${h.entriesCrc32}, the array's bytes give ${crc}`));
  if (m.gpt) {
    const d = sha256Buffer(maskBootBits(raw, geo.entrySize, slotNumbers(m)));
    checks.push(d === m.gpt.entryArraySha256 ? pass(region, 'entry array sha256', 'all entries as built (slot boot bits masked)', d) : fail(region, 'entry array sha256', m.gpt.entryArraySha256, d, `expected ${m.gpt.entryArraySha256}, found ${d} (slot boot bits masked)`));
  } else {
    checks.push(notCovered(region, 'entry array sha256', 'manifest version 1 did not record it; the listed partitions are compared below'));
  }
  const entries = rawEntries(raw, geo.entrySize);
  for (const p of m.partitions) checks.push(...entryFields(region, entries, p));
  checks.push(...extraEntries(region, m, entries), ...bootBits(region, m, entries, primary));
  return { checks, entries };
}
