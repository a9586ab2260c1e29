import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { formatBootFailure, formatBootMarker, parseBootMarker } from './marker.js';
import { DEFAULT_OVMF_CODE, qemuArgs, resolveBootTarget } from './run.js';

const H = 'ab'.repeat(32);

describe('parseBootMarker', () => {
  it('reads the marker among console noise, CRLF included', () => {
    const log = `BdsDxe: loading Boot0001\r\n[    2.3] device-mapper: verity: sha256\r\nimgbuild-init: chose slot B\r\nIMGBUILD-BOOT slot=B usrhash=${H} version=2 health=ok\r\n[    3.1] reboot: Power down\r\n`;
    expect(parseBootMarker(log)).toEqual({ marker: { slot: 'B', usrhash: H, version: '2', health: 'ok' }, failure: null });
  });

  it('accepts an empty version and lowercases the hash', () => {
    const r = parseBootMarker(`IMGBUILD-BOOT slot=A usrhash=${H.toUpperCase()} version= health=none\n`);
    expect(r.marker).toEqual({ slot: 'A', usrhash: H, version: '', health: 'none' });
  });

  it('reads a failure line with its detail to the end of the line', () => {
    const r = parseBootMarker('x\nIMGBUILD-BOOT-FAIL reason=read-error detail=reading /usr: cat: read error: Input/output error\r\nmore\n');
    expect(r).toEqual({ marker: null, failure: { reason: 'read-error', detail: 'reading /usr: cat: read error: Input/output error' } });
  });

  it('finds nothing in a log without markers, and rejects malformed ones', () => {
    expect(parseBootMarker('')).toEqual({ marker: null, failure: null });
    expect(parseBootMarker(`IMGBUILD-BOOT slot=C usrhash=${H} version=1 health=ok`).marker).toBeNull();
    expect(parseBootMarker(`IMGBUILD-BOOT slot=A usrhash=${H} version=1 health=great`).marker).toBeNull();
  });

  it('takes the last marker when there are several', () => {
    const r = parseBootMarker(`IMGBUILD-BOOT slot=A usrhash=${H} version=1 health=ok\nIMGBUILD-BOOT slot=B usrhash=${H} version=2 health=fail\n`);
    expect(r.marker?.slot).toBe('B');
  });

  it('round-trips the formatted lines', () => {
    const m = { slot: 'A' as const, usrhash: H, version: '7', health: 'fail' as const };
    expect(parseBootMarker(formatBootMarker(m)).marker).toEqual(m);
    const f = { reason: 'no-hash', detail: 'no verity.usrhash.A' };
    expect(parseBootMarker(formatBootFailure(f)).failure).toEqual(f);
  });
});

describe('qemu command line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'imgbuild-qemu-unit-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('boots through pflash firmware and a virtio disk, TCG, no network, no reboot', () => {
    const a = qemuArgs({ image: '/i.raw', format: 'raw', ovmfCode: '/c.fd', varsCopy: '/v.fd', serialLog: '/s.log', memoryMiB: 512, accel: 'tcg' });
    const s = a.join(' ');
    expect(s).toContain('-machine q35,accel=tcg -m 512 -nic none -display none -serial file:/s.log -monitor none -no-reboot');
    expect(s).toContain('-drive if=pflash,format=raw,readonly=on,file=/c.fd -drive if=pflash,format=raw,file=/v.fd');
    expect(s).toContain('-drive file=/i.raw,format=raw,if=virtio');
    expect(a).not.toContain('-kernel');
  });

  it('takes the format from the extension', async () => {
    writeFileSync(join(dir, 'a.qcow2'), '');
    writeFileSync(join(dir, 'a.img'), '');
    expect((await resolveBootTarget({ image: join(dir, 'a.qcow2') })).format).toBe('qcow2');
    const raw = await resolveBootTarget({ image: join(dir, 'a.img') });
    expect(raw.format).toBe('raw');
    expect(raw.ovmfCode).toBe(DEFAULT_OVMF_CODE);
  });

  it('uses a qemu_uefi bundle folder: its qcow2, code and vars', async () => {
    const b = join(dir, 'bundle');
    mkdirSync(b);
    for (const f of ['os.qcow2', 'os_efi_code.fd', 'os_efi_vars.fd', 'os.sh']) writeFileSync(join(b, f), '');
    const t = await resolveBootTarget({ image: b });
    expect(t).toMatchObject({ image: join(b, 'os.qcow2'), format: 'qcow2', ovmfCode: join(b, 'os_efi_code.fd'), ovmfVars: join(b, 'os_efi_vars.fd'), bundle: b });
  });

  it('refuses a missing image and a folder without exactly one qcow2', async () => {
    await expect(resolveBootTarget({ image: join(dir, 'nope.img') })).rejects.toThrow(/no such image/);
    const e = join(dir, 'empty');
    mkdirSync(e);
    await expect(resolveBootTarget({ image: e })).rejects.toThrow(/exactly one \.qcow2/);
  });
});
