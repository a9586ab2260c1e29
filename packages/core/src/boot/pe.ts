/**
 * A small PE/COFF codec: just what a UKI builder and reader need. Pure functions between bytes and
 * values, literal offsets with one comment per field, no I/O.
 *
 * Layout of an image file: DOS header ("MZ", e_lfanew at 0x3c) → "PE\0\0" → COFF file header (20 bytes)
 * → optional header (PE32 or PE32+, ending in the data directories) → section table (40 bytes per
 * section) → padding up to SizeOfHeaders → section raw data, each at a multiple of FileAlignment.
 */
import { CorruptError } from '../errors.js';

export const PE_MACHINE_X86_64 = 0x8664;
export const PE_MAGIC_PE32 = 0x10b;
export const PE_MAGIC_PE32_PLUS = 0x20b;
export const PE_SECTION_HEADER_SIZE = 40;
/** Index of the certificate table (Authenticode signature) in the data directories; its "RVA" is a file offset. */
export const PE_DIR_SECURITY = 4;
/** IMAGE_SCN_CNT_INITIALIZED_DATA | IMAGE_SCN_MEM_READ: what `objcopy --set-section-flags X=data,readonly` gives. */
export const PE_SCN_READONLY_DATA = 0x4000_0040;

export interface PeSection {
  /** At most 8 bytes (long "/nnn" string-table names are not supported). */
  name: string;
  virtualSize: number;
  virtualAddress: number;
  sizeOfRawData: number;
  pointerToRawData: number;
  pointerToRelocations: number;
  pointerToLinenumbers: number;
  numberOfRelocations: number;
  numberOfLinenumbers: number;
  characteristics: number;
}

export interface PeDataDirectory {
  virtualAddress: number;
  size: number;
}

export interface PeHeaders {
  /** e_lfanew: file offset of "PE\0\0". */
  peOffset: number;
  machine: number;
  numberOfSections: number;
  timeDateStamp: number;
  pointerToSymbolTable: number;
  numberOfSymbols: number;
  sizeOfOptionalHeader: number;
  characteristics: number;
  /** 0x10b (PE32) or 0x20b (PE32+). */
  magic: number;
  sizeOfCode: number;
  sizeOfInitializedData: number;
  sizeOfUninitializedData: number;
  addressOfEntryPoint: number;
  sectionAlignment: number;
  fileAlignment: number;
  sizeOfImage: number;
  sizeOfHeaders: number;
  checksum: number;
  subsystem: number;
  dataDirectories: PeDataDirectory[];
  /** File offsets of fields the writer patches. */
  offsets: {
    optionalHeader: number;
    sectionTable: number;
    numberOfSections: number;
    sizeOfInitializedData: number;
    sizeOfImage: number;
    checksum: number;
    dataDirectories: number;
  };
  sections: PeSection[];
}

export function alignUp(n: number, alignment: number): number {
  return Math.ceil(n / alignment) * alignment;
}

function need(buf: Buffer, end: number, what: string): void {
  if (end > buf.length) throw new CorruptError(`PE image truncated: ${what} ends at ${end}, file has ${buf.length} bytes`);
}

export function decodeSectionHeader(buf: Buffer, off: number): PeSection {
  need(buf, off + PE_SECTION_HEADER_SIZE, 'section header');
  const raw = buf.subarray(off, off + 8); // 0..8 Name, NUL-padded
  const nul = raw.indexOf(0);
  return {
    name: raw.subarray(0, nul < 0 ? 8 : nul).toString('latin1'),
    virtualSize: buf.readUInt32LE(off + 8), // 8..12 VirtualSize (exact size in memory)
    virtualAddress: buf.readUInt32LE(off + 12), // 12..16 VirtualAddress (RVA)
    sizeOfRawData: buf.readUInt32LE(off + 16), // 16..20 SizeOfRawData (multiple of FileAlignment)
    pointerToRawData: buf.readUInt32LE(off + 20), // 20..24 PointerToRawData (file offset)
    pointerToRelocations: buf.readUInt32LE(off + 24), // 24..28 PointerToRelocations (0 in images)
    pointerToLinenumbers: buf.readUInt32LE(off + 28), // 28..32 PointerToLinenumbers (deprecated)
    numberOfRelocations: buf.readUInt16LE(off + 32), // 32..34 NumberOfRelocations
    numberOfLinenumbers: buf.readUInt16LE(off + 34), // 34..36 NumberOfLinenumbers
    characteristics: buf.readUInt32LE(off + 36), // 36..40 Characteristics (IMAGE_SCN_*)
  };
}

export function encodeSectionHeader(s: PeSection): Buffer {
  const name = Buffer.from(s.name, 'latin1');
  if (name.length === 0 || name.length > 8) throw new RangeError(`PE section name must be 1..8 bytes: ${JSON.stringify(s.name)}`);
  const b = Buffer.alloc(PE_SECTION_HEADER_SIZE);
  name.copy(b, 0); // 0..8 Name
  b.writeUInt32LE(s.virtualSize, 8); // 8..12 VirtualSize
  b.writeUInt32LE(s.virtualAddress, 12); // 12..16 VirtualAddress
  b.writeUInt32LE(s.sizeOfRawData, 16); // 16..20 SizeOfRawData
  b.writeUInt32LE(s.pointerToRawData, 20); // 20..24 PointerToRawData
  b.writeUInt32LE(s.pointerToRelocations, 24); // 24..28 PointerToRelocations
  b.writeUInt32LE(s.pointerToLinenumbers, 28); // 28..32 PointerToLinenumbers
  b.writeUInt16LE(s.numberOfRelocations, 32); // 32..34 NumberOfRelocations
  b.writeUInt16LE(s.numberOfLinenumbers, 34); // 34..36 NumberOfLinenumbers
  b.writeUInt32LE(s.characteristics, 36); // 36..40 Characteristics
  return b;
}

/** Decodes the DOS stub pointer, COFF header, optional header and section table. Throws CorruptError. */
export function decodePe(buf: Buffer): PeHeaders {
  need(buf, 0x40, 'DOS header');
  if (buf.readUInt16LE(0) !== 0x5a4d) throw new CorruptError('not a PE image: no "MZ" DOS header');
  const peOffset = buf.readUInt32LE(0x3c); // DOS header 0x3c..0x40 e_lfanew
  need(buf, peOffset + 24, 'COFF header');
  if (buf.readUInt32LE(peOffset) !== 0x0000_4550) throw new CorruptError(`not a PE image: no "PE\\0\\0" at e_lfanew ${peOffset}`);
  const coff = peOffset + 4;
  const sizeOfOptionalHeader = buf.readUInt16LE(coff + 16); // COFF 16..18 SizeOfOptionalHeader
  const opt = coff + 20;
  need(buf, opt + sizeOfOptionalHeader, 'optional header');
  const magic = buf.readUInt16LE(opt); // opt 0..2 Magic
  if (magic !== PE_MAGIC_PE32 && magic !== PE_MAGIC_PE32_PLUS) throw new CorruptError(`unknown optional header magic 0x${magic.toString(16)}`);
  const plus = magic === PE_MAGIC_PE32_PLUS;
  const dirCountOff = opt + (plus ? 108 : 92); // NumberOfRvaAndSizes
  const dirOff = dirCountOff + 4;
  if (sizeOfOptionalHeader < dirOff - opt) throw new CorruptError(`optional header too small (${sizeOfOptionalHeader} bytes)`);
  const numberOfRvaAndSizes = buf.readUInt32LE(dirCountOff);
  if (dirOff + numberOfRvaAndSizes * 8 > opt + sizeOfOptionalHeader) throw new CorruptError(`${numberOfRvaAndSizes} data directories do not fit the optional header`);
  const dataDirectories: PeDataDirectory[] = [];
  for (let i = 0; i < numberOfRvaAndSizes; i++) {
    dataDirectories.push({ virtualAddress: buf.readUInt32LE(dirOff + i * 8), size: buf.readUInt32LE(dirOff + i * 8 + 4) });
  }
  const numberOfSections = buf.readUInt16LE(coff + 2); // COFF 2..4 NumberOfSections
  const sectionTable = opt + sizeOfOptionalHeader;
  need(buf, sectionTable + numberOfSections * PE_SECTION_HEADER_SIZE, 'section table');
  const sections: PeSection[] = [];
  for (let i = 0; i < numberOfSections; i++) sections.push(decodeSectionHeader(buf, sectionTable + i * PE_SECTION_HEADER_SIZE));
  const h: PeHeaders = {
    peOffset,
    machine: buf.readUInt16LE(coff), // COFF 0..2 Machine
    numberOfSections,
    timeDateStamp: buf.readUInt32LE(coff + 4), // COFF 4..8 TimeDateStamp
    pointerToSymbolTable: buf.readUInt32LE(coff + 8), // COFF 8..12 PointerToSymbolTable
    numberOfSymbols: buf.readUInt32LE(coff + 12), // COFF 12..16 NumberOfSymbols
    sizeOfOptionalHeader,
    characteristics: buf.readUInt16LE(coff + 18), // COFF 18..20 Characteristics
    magic,
    sizeOfCode: buf.readUInt32LE(opt + 4), // opt 4..8 SizeOfCode
    sizeOfInitializedData: buf.readUInt32LE(opt + 8), // opt 8..12 SizeOfInitializedData
    sizeOfUninitializedData: buf.readUInt32LE(opt + 12), // opt 12..16 SizeOfUninitializedData
    addressOfEntryPoint: buf.readUInt32LE(opt + 16), // opt 16..20 AddressOfEntryPoint
    sectionAlignment: buf.readUInt32LE(opt + 32), // opt 32..36 SectionAlignment
    fileAlignment: buf.readUInt32LE(opt + 36), // opt 36..40 FileAlignment
    sizeOfImage: buf.readUInt32LE(opt + 56), // opt 56..60 SizeOfImage
    sizeOfHeaders: buf.readUInt32LE(opt + 60), // opt 60..64 SizeOfHeaders
    checksum: buf.readUInt32LE(opt + 64), // opt 64..68 CheckSum
    subsystem: buf.readUInt16LE(opt + 68), // opt 68..70 Subsystem
    dataDirectories,
    offsets: {
      optionalHeader: opt,
      sectionTable,
      numberOfSections: coff + 2,
      sizeOfInitializedData: opt + 8,
      sizeOfImage: opt + 56,
      checksum: opt + 64,
      dataDirectories: dirOff,
    },
    sections,
  };
  if (h.fileAlignment === 0 || h.sectionAlignment === 0) throw new CorruptError('PE alignment of 0');
  return h;
}

/**
 * The bytes a section holds: its raw data cut to VirtualSize (the exact size; SizeOfRawData is padded
 * to FileAlignment). A VirtualSize of 0 (some linkers) means "the raw size".
 */
export function peSectionData(buf: Buffer, s: PeSection): Buffer {
  const len = s.virtualSize === 0 ? s.sizeOfRawData : Math.min(s.virtualSize, s.sizeOfRawData);
  need(buf, s.pointerToRawData + len, `section ${s.name} data`);
  return buf.subarray(s.pointerToRawData, s.pointerToRawData + len);
}

/**
 * The PE image checksum (as computed by Windows' CheckSumMappedFile / EDK2's tools): 16-bit one's
 * complement style sum of the file with the CheckSum field counted as zero, plus the file length.
 */
export function peChecksum(buf: Buffer, checksumOffset: number): number {
  const byteAt = (i: number): number => (i >= checksumOffset && i < checksumOffset + 4) || i >= buf.length ? 0 : buf[i];
  let sum = 0;
  for (let i = 0; i < buf.length; i += 2) {
    sum += byteAt(i) | (byteAt(i + 1) << 8);
    sum = (sum & 0xffff) + (sum >>> 16);
  }
  sum = (sum & 0xffff) + (sum >>> 16);
  return (sum + buf.length) >>> 0;
}
