import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeVarStore } from '../boot/ovmf-vars.js';
import { secureBootVarStore } from '../boot/secureboot-vars.js';
import { qemuArgs, resolveBootTarget } from './run.js';
import { firmwareRefusal, OVMF_SECBOOT_CODE, OVMF_SNAKEOIL_VARS, varsEnforceSecureBoot } from './secure-boot.js';

const dir = mkdtempSync(join(tmpdir(), 'imgbuild-sb-unit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('secure boot under qemu', () => {
  it('adds SMM and the secure pflash only for Secure Boot', () => {
    const base = { image: '/i.raw', format: 'raw', ovmfCode: '/c.fd', varsCopy: '/v.fd', serialLog: '/s.log', memoryMiB: 512, accel: 'tcg' };
    expect(qemuArgs(base).join(' ')).not.toMatch(/smm|secure/);
    const a = qemuArgs({ ...base, secureBoot: true }).join(' ');
    expect(a).toContain('-machine q35,accel=tcg,smm=on -global driver=cfi.pflash01,property=secure,value=on');
  });

  it("sees the firmware's refusal, not the selector's fallback line", () => {
    expect(firmwareRefusal('BdsDxe: failed to load Boot0002 "UEFI Misc Device" from PciRoot(0x0)/Pci(0x2,0x0): Access Denied\r\n')).toMatch(/^BdsDxe: failed to load Boot0002 .*Access Denied$/);
    expect(firmwareRefusal('BdsDxe: failed to load Boot0001 "x" from y: Security Violation')).toMatch(/Security Violation/);
    expect(firmwareRefusal('BdsDxe: failed to load Boot0001 "UEFI QEMU DVD-ROM" from z: Not Found')).toBeNull();
    expect(firmwareRefusal('imgbuild-select: slot=B cannot boot: \\EFI\\Linux\\imgbuild-usr-b.efi: Access Denied; tries -> 0')).toBeNull();
  });

  it.skipIf(!existsSync(OVMF_SNAKEOIL_VARS))('tells a vars file that enforces Secure Boot; a bundle with one boots the Secure Boot firmware', async () => {
    expect(varsEnforceSecureBoot(readFileSync(OVMF_SNAKEOIL_VARS))).toBe(true);
    expect(varsEnforceSecureBoot(readFileSync('/usr/share/OVMF/OVMF_VARS_4M.fd'))).toBe(false);
    expect(varsEnforceSecureBoot(Buffer.from('junk'))).toBe(false);
    const der = Buffer.from(new X509Certificate(readFileSync('/usr/share/ovmf/PkKek-1-snakeoil.pem')).raw);
    const b = join(dir, 'b');
    mkdirSync(b);
    writeFileSync(join(b, 'x.qcow2'), '');
    writeFileSync(join(b, 'x_efi_vars.fd'), encodeVarStore(secureBootVarStore({ certDer: der, time: 1700000000 })));
    const t = await resolveBootTarget({ image: b });
    expect(t).toMatchObject({ secureBoot: true, ovmfCode: OVMF_SECBOOT_CODE });
    const raw = join(dir, 'r.raw');
    writeFileSync(raw, '');
    expect(await resolveBootTarget({ image: raw, secureBoot: true })).toMatchObject({ secureBoot: true, ovmfCode: OVMF_SECBOOT_CODE, ovmfVars: OVMF_SNAKEOIL_VARS });
    expect((await resolveBootTarget({ image: raw })).secureBoot).toBe(false);
  });
});
