/**
 * Unified Kernel Images: the systemd EFI stub with the kernel, initrd, command line and os-release
 * added as PE sections. Pure: buffers in, buffers out; the same inputs give the same bytes.
 *
 * What `buildUki` does to the stub (systemd-stub 252 reads the sections by name from its own loaded
 * image, at ImageBase + VirtualAddress, VirtualSize bytes):
 * - Sections are added in the order `.osrel`, `.cmdline`, [`.uname`], `.linux`, `.initrd` (the order
 *   that booted here; `.uname` sits where ukify puts it, before the payloads). A section whose content
 *   is empty is left out (an empty `.cmdline` lets the stub accept a command line from the loader).
 * - Each one's VirtualAddress is the end of the previous section (the stub's last one for the first)
 *   rounded up to max(SectionAlignment, 4 KiB); VirtualSize is the exact length (no NUL is added: the
 *   252 stub takes `.cmdline` by its VirtualSize and NUL-terminates its copy for the kernel; the boot
 *   test shows /proc/cmdline equal to it byte for byte. The zero padding after it in file and memory
 *   also serves readers that stop at a NUL, unless the length is a multiple of 4 KiB). Raw data starts at the end of
 *   the stub's last raw data rounded up to FileAlignment, SizeOfRawData is padded with zeros to it.
 * - Header room: the new section headers go right after the stub's. They must fit before SizeOfHeaders
 *   and before the first section's raw data, over bytes that are zero (or, in the arm64 stub, the NOPs
 *   its assembler-made header is padded with: the architecture table's `stubHeaderFill`). Debian's 252
 *   x86-64 stub has room for 7 more; if a stub has none, buildUki fails with InputError rather than shifting every section (which
 *   would mean rewriting file offsets inside debug directories we do not otherwise need to parse).
 * - A COFF symbol table (the 252 stub has one after its last section) and its string table are moved
 *   to the end of the UKI, PointerToSymbolTable updated, so `objdump -t` still works.
 * - Signed stubs: anything else after the last section's raw data (an Authenticode certificate table or
 *   other overlay) is dropped and the certificate directory zeroed: adding sections invalidates the
 *   signature anyway; sign the UKI afterwards.
 * - NumberOfSections, SizeOfImage and SizeOfInitializedData are updated; CheckSum is recomputed with the
 *   standard PE algorithm (deterministic, and right for tools that check it).
 * - The stub's PE Machine and the kernel's boot header must both be the architecture's (`arch`, default
 *   x86-64): an x86 bzImage (systemd-stub 252's EFI handover path) or an arm64 Image (a PE the arm64
 *   stub starts with LoadImage).
 */
import { archFacts, DEFAULT_ARCHITECTURE, type Architecture } from '../arch.js';
import { checkKernel } from './kernel.js';
import { CorruptError, InputError } from '../errors.js';
import {
  alignUp,
  decodePe,
  encodeSectionHeader,
  peChecksum,
  peSectionData,
  PE_DIR_SECURITY,
  PE_MAGIC_PE32_PLUS,
  PE_SCN_READONLY_DATA,
  PE_SECTION_HEADER_SIZE,
  type PeHeaders,
  type PeSection,
} from './pe.js';

/** systemd-boot-efi's x86-64 stub on Debian (the architecture table names every architecture's). */
export const DEFAULT_UKI_STUB = archFacts('x86-64').ukiStub;
/** Section VirtualAddresses are aligned to at least this (page size), whatever the stub's SectionAlignment. */
export const UKI_MIN_SECTION_ALIGNMENT = 4096;
/** Used when buildUki is given no osRelease: systemd-boot lists a UKI in EFI/Linux/ only with a `.osrel`. */
export const DEFAULT_UKI_OS_RELEASE = 'NAME="imgbuild"\nID=imgbuild\nPRETTY_NAME="imgbuild"\n';
/** Names of the sections buildUki adds, in the order it adds them. */
export const UKI_SECTIONS = ['.osrel', '.cmdline', '.uname', '.linux', '.initrd'] as const;
export type UkiSectionName = (typeof UKI_SECTIONS)[number];

export interface UkiInput {
  /** The systemd EFI stub (e.g. the contents of DEFAULT_UKI_STUB). */
  stub: Buffer;
  /** An x86 bzImage (vmlinuz) or an arm64 Image, as `arch` wants. */
  kernel: Buffer;
  /** The machine the UKI is for; default x86-64. */
  arch?: Architecture;
  /** Initramfs; may be empty (then no `.initrd`). */
  initrd: Buffer;
  /** Kernel command line, stored as-is (UTF-8, no NUL added). */
  cmdline: string;
  /** os-release contents; default DEFAULT_UKI_OS_RELEASE. */
  osRelease?: string;
  /** `uname -r` of the kernel; `.uname` is added only when given. */
  uname?: string;
}

export interface UkiContents {
  /** Every section of the image (stub ones too), cut to VirtualSize. Views into the input buffer. */
  sections: Record<string, Buffer>;
  /** `.cmdline` with trailing NULs removed; '' when there is none. */
  cmdline: string;
  osRelease?: string;
  uname?: string;
  /** `.linux`. */
  kernel: Buffer;
  /** `.initrd`; empty when there is none. */
  initrd: Buffer;
}

/**
 * Checks the x86 boot protocol header of a bzImage (boot_flag 0xAA55 at 0x1fe, "HdrS" at 0x202) and,
 * when given, that a command line of `cmdlineBytes` fits the kernel's own limit (cmdline_size at 0x238,
 * boot protocol ≥ 2.06; the kernel would silently cut a longer one). Throws InputError.
 */
export function checkBzImage(kernel: Buffer, cmdlineBytes = 0): void {
  checkKernel(kernel, 'x86-64', cmdlineBytes);
}

/** Decodes the stub and checks it can become a UKI for `arch`. */
function decodeStub(stub: Buffer, arch: Architecture): PeHeaders {
  let pe: PeHeaders;
  try {
    pe = decodePe(stub);
  } catch (e) {
    throw new InputError(`stub is not a PE image: ${(e as Error).message}`, { cause: e });
  }
  if (pe.magic !== PE_MAGIC_PE32_PLUS || pe.machine !== archFacts(arch).peMachine) {
    throw new InputError(`stub is not an ${arch} PE32+ image (machine 0x${pe.machine.toString(16)}, magic 0x${pe.magic.toString(16)})`);
  }
  if (pe.sections.length === 0) throw new InputError('stub has no sections');
  const taken = pe.sections.find((s) => (UKI_SECTIONS as readonly string[]).includes(s.name));
  if (taken) throw new InputError(`stub already has a ${taken.name} section (is it a UKI already?)`);
  return pe;
}

interface UkiPlan {
  /** Headers of the added sections, in order. */
  headers: PeSection[];
  /** File offset of the new section headers (right after the stub's). */
  tableAt: number;
  /** Where the stub's headers and section data end in the file: bytes [0, stubEnd) are kept. */
  stubEnd: number;
  /** Where the added sections' raw data ends in the file. */
  dataEnd: number;
}

/** Places the added sections: headers after the stub's, memory after its last section, file after its data. */
function planSections(pe: PeHeaders, stub: Buffer, adding: Array<[UkiSectionName, Buffer]>, fill: readonly number[]): UkiPlan {
  const tableAt = pe.offsets.sectionTable + pe.sections.length * PE_SECTION_HEADER_SIZE;
  const tableEnd = tableAt + adding.length * PE_SECTION_HEADER_SIZE;
  const firstRaw = Math.min(pe.sizeOfHeaders, ...pe.sections.filter((s) => s.sizeOfRawData > 0).map((s) => s.pointerToRawData));
  const isFill = (b: number, i: number) => b === 0 || b === fill[(i + tableAt) % fill.length];
  if (tableEnd > firstRaw || !stub.subarray(tableAt, tableEnd).every((b, i) => isFill(b, i))) {
    throw new InputError(`stub has no room for ${adding.length} more section headers (table would end at ${tableEnd}, headers area ends at ${firstRaw})`);
  }
  const secAlign = Math.max(pe.sectionAlignment, UKI_MIN_SECTION_ALIGNMENT);
  const memEnd = Math.max(...pe.sections.map((s) => s.virtualAddress + Math.max(s.virtualSize, s.sizeOfRawData)));
  const stubEnd = Math.max(pe.sizeOfHeaders, ...pe.sections.map((s) => s.pointerToRawData + s.sizeOfRawData));
  if (stubEnd > stub.length) throw new InputError(`stub truncated: section data ends at ${stubEnd}, file has ${stub.length} bytes`);
  let va = alignUp(memEnd, secAlign);
  let fileOff = alignUp(stubEnd, pe.fileAlignment);
  const headers = adding.map(([name, data]): PeSection => {
    const h = { name, virtualSize: data.length, virtualAddress: va, sizeOfRawData: alignUp(data.length, pe.fileAlignment), pointerToRawData: fileOff,
      pointerToRelocations: 0, pointerToLinenumbers: 0, numberOfRelocations: 0, numberOfLinenumbers: 0, characteristics: PE_SCN_READONLY_DATA };
    va = alignUp(va + data.length, secAlign);
    fileOff += h.sizeOfRawData;
    return h;
  });
  if (fileOff > 0xffff_ffff || va > 0xffff_ffff) throw new InputError('UKI would exceed 4 GiB');
  return { headers, tableAt, stubEnd, dataEnd: fileOff };
}

/** Builds a UKI from the stub and the payloads. Throws InputError for an unsuitable stub or kernel. */
export function buildUki(input: UkiInput): Buffer {
  const arch = input.arch ?? DEFAULT_ARCHITECTURE;
  const pe = decodeStub(input.stub, arch);
  if (input.cmdline.includes('\0')) throw new InputError('kernel command line contains a NUL character');
  checkKernel(input.kernel, arch, Buffer.byteLength(input.cmdline, 'utf8'));
  const payloads: Array<[UkiSectionName, Buffer]> = [
    ['.osrel', Buffer.from(input.osRelease ?? DEFAULT_UKI_OS_RELEASE, 'utf8')],
    ['.cmdline', Buffer.from(input.cmdline, 'utf8')],
    ['.uname', Buffer.from(input.uname ?? '', 'utf8')],
    ['.linux', input.kernel],
    ['.initrd', input.initrd],
  ];
  const adding = payloads.filter(([, data]) => data.length > 0);
  const plan = planSections(pe, input.stub, adding, archFacts(arch).stubHeaderFill);
  const symbols = coffSymbols(input.stub, pe.pointerToSymbolTable, pe.numberOfSymbols, plan.stubEnd);

  const out = Buffer.alloc(plan.dataEnd + symbols.length); // zero-filled: all padding is zeros
  input.stub.copy(out, 0, 0, plan.stubEnd);
  plan.headers.forEach((h, i) => {
    encodeSectionHeader(h).copy(out, plan.tableAt + i * PE_SECTION_HEADER_SIZE);
    adding[i][1].copy(out, h.pointerToRawData);
  });
  if (symbols.length > 0) {
    symbols.copy(out, plan.dataEnd);
    out.writeUInt32LE(plan.dataEnd, pe.peOffset + 4 + 8); // COFF 8..12 PointerToSymbolTable
  }
  const last = plan.headers[plan.headers.length - 1];
  const addedData = plan.headers.reduce((n, h) => n + h.sizeOfRawData, 0);
  out.writeUInt16LE(pe.sections.length + plan.headers.length, pe.offsets.numberOfSections);
  out.writeUInt32LE(alignUp(last.virtualAddress + last.virtualSize, pe.sectionAlignment), pe.offsets.sizeOfImage);
  out.writeUInt32LE((pe.sizeOfInitializedData + addedData) >>> 0, pe.offsets.sizeOfInitializedData);
  if (pe.dataDirectories.length > PE_DIR_SECURITY) out.fill(0, pe.offsets.dataDirectories + PE_DIR_SECURITY * 8, pe.offsets.dataDirectories + PE_DIR_SECURITY * 8 + 8);
  out.writeUInt32LE(peChecksum(out, pe.offsets.checksum), pe.offsets.checksum);
  return out;
}

/**
 * The COFF symbol table and the string table after it (the 252 stub keeps one after its last section),
 * or an empty buffer. buildUki moves it to the end of the UKI, after the new sections.
 */
function coffSymbols(stub: Buffer, pointer: number, count: number, sectionsEnd: number): Buffer {
  if (pointer === 0) return Buffer.alloc(0);
  const symEnd = pointer + count * 18;
  if (pointer < sectionsEnd || symEnd + 4 > stub.length) throw new InputError(`stub's COFF symbol table (at ${pointer}) is not where expected; strip it first`);
  const strLen = stub.readUInt32LE(symEnd);
  if (strLen < 4 || symEnd + strLen > stub.length) throw new InputError(`stub's COFF string table (at ${symEnd}) is damaged; strip it first`);
  return stub.subarray(pointer, symEnd + strLen);
}

function text(b: Buffer | undefined): string | undefined {
  return b === undefined ? undefined : b.toString('utf8').replace(/\0+$/, '');
}

/**
 * Reads a UKI back: every section, and the payloads by name. Throws CorruptError when the buffer is not
 * a PE image and InputError when it has no `.linux` section (not a UKI).
 */
export function readUki(buf: Buffer): UkiContents {
  const pe = decodePe(buf);
  const sections: Record<string, Buffer> = {};
  for (const s of pe.sections) {
    if (s.name in sections) throw new CorruptError(`PE image has two ${s.name} sections`);
    sections[s.name] = peSectionData(buf, s);
  }
  const kernel = sections['.linux'];
  if (kernel === undefined) throw new InputError('not a UKI: no .linux section');
  return {
    sections,
    cmdline: text(sections['.cmdline']) ?? '',
    osRelease: text(sections['.osrel']),
    uname: text(sections['.uname']),
    kernel,
    initrd: sections['.initrd'] ?? Buffer.alloc(0),
  };
}
