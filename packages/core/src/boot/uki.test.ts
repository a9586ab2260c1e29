import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { CorruptError, InputError } from '../errors.js';
import { alignUp, decodePe, decodeSectionHeader, encodeSectionHeader, peChecksum, PE_DIR_SECURITY, PE_SCN_READONLY_DATA, type PeSection } from './pe.js';
import { buildUki, DEFAULT_UKI_OS_RELEASE, DEFAULT_UKI_STUB, readUki } from './uki.js';

const haveStub = existsSync(DEFAULT_UKI_STUB);
const stub = haveStub ? readFileSync(DEFAULT_UKI_STUB) : Buffer.alloc(0);

/** Just enough of a bzImage to pass the boot protocol check, plus some recognisable bytes. */
function fakeKernel(size = 0x3210): Buffer {
  const k = Buffer.alloc(size, 0x4b);
  k.writeUInt16LE(0xaa55, 0x1fe);
  k.write('HdrS', 0x202, 'latin1');
  k.writeUInt16LE(0x20f, 0x206); // boot protocol 2.15
  k.writeUInt32LE(2047, 0x238); // cmdline_size, as in x86 kernels
  return k;
}

describe('PE section header codec', () => {
  it('round-trips every field', () => {
    const s: PeSection = {
      name: '.cmdline',
      virtualSize: 0x1234,
      virtualAddress: 0x1a000,
      sizeOfRawData: 0x1400,
      pointerToRawData: 0x11400,
      pointerToRelocations: 7,
      pointerToLinenumbers: 8,
      numberOfRelocations: 9,
      numberOfLinenumbers: 10,
      characteristics: PE_SCN_READONLY_DATA,
    };
    const b = encodeSectionHeader(s);
    expect(b.length).toBe(40);
    expect(decodeSectionHeader(b, 0)).toEqual(s);
    expect(() => encodeSectionHeader({ ...s, name: '.toolongname' })).toThrow(RangeError);
  });

  it('alignUp', () => {
    expect(alignUp(0, 512)).toBe(0);
    expect(alignUp(1, 512)).toBe(512);
    expect(alignUp(4096, 4096)).toBe(4096);
    expect(alignUp(0x19134, 4096)).toBe(0x1a000);
  });

  it('refuses what is not a PE image', () => {
    expect(() => decodePe(Buffer.alloc(10))).toThrow(CorruptError);
    expect(() => decodePe(Buffer.alloc(0x200))).toThrow(/MZ/);
    const b = Buffer.alloc(0x200);
    b.write('MZ', 0, 'latin1');
    b.writeUInt32LE(0x80, 0x3c);
    expect(() => decodePe(b)).toThrow(/PE\\0\\0/);
  });
});

describe.skipIf(!haveStub)('the systemd stub (systemd-boot-efi 252)', () => {
  it('decodes: x86-64 PE32+ EFI application with .sdmagic', () => {
    const pe = decodePe(stub);
    expect(pe.machine).toBe(0x8664);
    expect(pe.magic).toBe(0x20b);
    expect(pe.subsystem).toBe(10);
    expect(pe.sections.map((s) => s.name)).toContain('.sdmagic');
    expect(pe.sections.some((s) => s.name === '.linux')).toBe(false);
  });

  it('our checksum algorithm reproduces the stub linker\'s CheckSum (golden)', () => {
    const pe = decodePe(stub);
    expect(pe.checksum).not.toBe(0);
    expect(peChecksum(stub, pe.offsets.checksum)).toBe(pe.checksum);
  });
});

describe.skipIf(!haveStub)('buildUki / readUki', () => {
  const kernel = fakeKernel();
  const initrd = Buffer.from('070701-fake-initrd'.repeat(300));
  const cmdline = 'console=ttyS0,115200 panic=-1 usrhash=abc';
  const uki = buildUki({ stub, kernel, initrd, cmdline, osRelease: 'ID=test\n' });
  const pe = decodePe(uki);
  const st = decodePe(stub);

  it('appends .osrel .cmdline .linux .initrd after the stub sections, in that order', () => {
    expect(pe.sections.map((s) => s.name)).toEqual([...st.sections.map((s) => s.name), '.osrel', '.cmdline', '.linux', '.initrd']);
    expect(pe.numberOfSections).toBe(st.numberOfSections + 4);
    // The stub's own headers and data are untouched.
    expect(pe.sections.slice(0, st.sections.length)).toEqual(st.sections);
    const lastRaw = Math.max(...st.sections.map((s) => s.pointerToRawData + s.sizeOfRawData));
    expect(uki.subarray(pe.sizeOfHeaders, lastRaw).equals(stub.subarray(st.sizeOfHeaders, lastRaw))).toBe(true);
  });

  it('places each section after the previous one, 4 KiB aligned in memory, FileAlignment aligned on disk', () => {
    const added = pe.sections.slice(st.sections.length);
    let prevEnd = Math.max(...st.sections.map((s) => s.virtualAddress + Math.max(s.virtualSize, s.sizeOfRawData)));
    let prevFileEnd = Math.max(...st.sections.map((s) => s.pointerToRawData + s.sizeOfRawData));
    for (const s of added) {
      expect(s.virtualAddress % 4096).toBe(0);
      expect(s.virtualAddress).toBe(alignUp(prevEnd, 4096));
      expect(s.pointerToRawData % pe.fileAlignment).toBe(0);
      expect(s.pointerToRawData).toBe(alignUp(prevFileEnd, pe.fileAlignment));
      expect(s.sizeOfRawData).toBe(alignUp(s.virtualSize, pe.fileAlignment));
      expect(s.characteristics).toBe(PE_SCN_READONLY_DATA);
      prevEnd = s.virtualAddress + s.virtualSize;
      prevFileEnd = s.pointerToRawData + s.sizeOfRawData;
    }
    // The stub's COFF symbol + string tables (up to its end of file) follow, moved.
    const symbols = st.pointerToSymbolTable === 0 ? Buffer.alloc(0) : stub.subarray(st.pointerToSymbolTable);
    expect(uki.length).toBe(prevFileEnd + symbols.length);
    expect(uki.subarray(prevFileEnd).equals(symbols)).toBe(true);
    expect(pe.pointerToSymbolTable).toBe(symbols.length === 0 ? 0 : prevFileEnd);
    expect(pe.numberOfSymbols).toBe(st.numberOfSymbols);
    expect(pe.sizeOfImage).toBe(alignUp(prevEnd, pe.sectionAlignment));
    expect(pe.sizeOfInitializedData).toBe(st.sizeOfInitializedData + added.reduce((n, s) => n + s.sizeOfRawData, 0));
  });

  it('.cmdline holds exactly the command line: VirtualSize = length, no NUL', () => {
    const s = pe.sections.find((x) => x.name === '.cmdline')!;
    expect(s.virtualSize).toBe(Buffer.byteLength(cmdline));
    expect(uki.subarray(s.pointerToRawData, s.pointerToRawData + s.virtualSize).toString()).toBe(cmdline);
  });

  it('recomputes the checksum, and is reproducible', () => {
    expect(pe.checksum).toBe(peChecksum(uki, pe.offsets.checksum));
    expect(buildUki({ stub, kernel, initrd, cmdline, osRelease: 'ID=test\n' }).equals(uki)).toBe(true);
    expect(buildUki({ stub, kernel, initrd, cmdline: cmdline + ' x', osRelease: 'ID=test\n' }).equals(uki)).toBe(false);
  });

  it('reads back what it wrote', () => {
    const r = readUki(uki);
    expect(r.cmdline).toBe(cmdline);
    expect(r.osRelease).toBe('ID=test\n');
    expect(r.uname).toBeUndefined();
    expect(r.kernel.equals(kernel)).toBe(true);
    expect(r.initrd.equals(initrd)).toBe(true);
    expect(Object.keys(r.sections)).toContain('.sdmagic');
  });

  it('default os-release, optional .uname before .linux, empty initrd and cmdline left out', () => {
    const u = buildUki({ stub, kernel, initrd: Buffer.alloc(0), cmdline: '', uname: '6.1.0-test-amd64' });
    expect(decodePe(u).sections.slice(st.sections.length).map((s) => s.name)).toEqual(['.osrel', '.uname', '.linux']);
    const r = readUki(u);
    expect(r.osRelease).toBe(DEFAULT_UKI_OS_RELEASE);
    expect(r.uname).toBe('6.1.0-test-amd64');
    expect(r.cmdline).toBe('');
    expect(r.initrd.length).toBe(0);
  });

  it('reads a command line with a trailing NUL (objcopy-built UKIs)', () => {
    const u = Buffer.from(buildUki({ stub, kernel, initrd, cmdline: 'a=b' }));
    expect(readUki(u).cmdline).toBe('a=b');
    const p = decodePe(u);
    const s = p.sections.find((x) => x.name === '.cmdline')!;
    u.writeUInt32LE(s.virtualSize + 1, p.offsets.sectionTable + p.sections.indexOf(s) * 40 + 8); // include the zero padding byte
    expect(readUki(u).sections['.cmdline'].length).toBe(4);
    expect(readUki(u).cmdline).toBe('a=b');
  });

  it('refuses unsuitable inputs with InputError', () => {
    expect(() => buildUki({ stub: Buffer.from('not a pe'), kernel, initrd, cmdline })).toThrow(InputError);
    expect(() => buildUki({ stub, kernel: Buffer.alloc(4096), initrd, cmdline })).toThrow(/bzImage/);
    expect(() => buildUki({ stub, kernel, initrd, cmdline: 'a\0b' })).toThrow(/NUL/);
    expect(() => buildUki({ stub, kernel, initrd, cmdline: 'x'.repeat(2048) })).toThrow(/2048 bytes, this kernel takes at most 2047/);
    expect(buildUki({ stub, kernel, initrd, cmdline: 'x'.repeat(2047) }).length).toBeGreaterThan(0);
    expect(() => buildUki({ stub: uki, kernel, initrd, cmdline })).toThrow(/already has a \.osrel/);
    expect(() => readUki(stub)).toThrow(/no \.linux/);
    expect(() => readUki(Buffer.alloc(100))).toThrow(CorruptError);
  });

  it('fails clearly when the headers area has no room for the new section headers', () => {
    const s = Buffer.from(stub);
    const p = decodePe(s);
    const tableEnd = p.offsets.sectionTable + p.sections.length * 40;
    s.writeUInt32LE(tableEnd + 40, p.offsets.optionalHeader + 60); // SizeOfHeaders: room for one more only
    expect(() => buildUki({ stub: s, kernel, initrd, cmdline })).toThrow(/no room for 4 more section headers/);
    const t = Buffer.from(stub);
    t[tableEnd + 5] = 1; // something non-zero where the new headers would go
    expect(() => buildUki({ stub: t, kernel, initrd, cmdline })).toThrow(/no room/);
  });

  it('drops a signature (certificate table) appended to the stub', () => {
    const cert = Buffer.alloc(0x300, 0xcc);
    const signed = Buffer.concat([stub, cert]);
    const p = decodePe(signed);
    signed.writeUInt32LE(stub.length, p.offsets.dataDirectories + PE_DIR_SECURITY * 8);
    signed.writeUInt32LE(cert.length, p.offsets.dataDirectories + PE_DIR_SECURITY * 8 + 4);
    const u = buildUki({ stub: signed, kernel, initrd, cmdline, osRelease: 'ID=test\n' });
    expect(decodePe(u).dataDirectories[PE_DIR_SECURITY]).toEqual({ virtualAddress: 0, size: 0 });
    expect(u.includes(cert.subarray(0, 64))).toBe(false);
    expect(u.equals(uki)).toBe(true); // the unsigned stub gives the very same UKI
  });
});
