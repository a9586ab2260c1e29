/**
 * AAVMF's (arm64) variable store against Debian's own file: the same codec with AAVMF's geometry
 * decodes AAVMF_VARS.snakeoil.fd and re-encodes it byte for byte, 64 MiB, padding included; the
 * Secure Boot store imgbuild writes for a certificate has that file's shape and says Secure Boot.
 */
import { existsSync, readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { archFacts } from '../arch.js';
import { varsEnforceSecureBoot } from '../qemu/secure-boot.js';
import { AAVMF_VARS, decodeVarStore, encodeVarStore, VAR_STORE_GEOMETRIES } from './ovmf-vars.js';
import { secureBootVarStore } from './secureboot-vars.js';

const fw = archFacts('arm64').firmware;
const have = existsSync(fw.snakeoilVars) && existsSync(fw.snakeoilCert);

describe.skipIf(!have)('AAVMF variable store', () => {
  it("decodes Debian's AAVMF snakeoil store and re-encodes it byte for byte", () => {
    const file = readFileSync(fw.snakeoilVars);
    const store = decodeVarStore(file);
    expect(store.variables.length).toBeGreaterThan(20);
    expect(VAR_STORE_GEOMETRIES[fw.varStore]).toBe(AAVMF_VARS);
    expect(encodeVarStore(store, AAVMF_VARS).equals(file)).toBe(true);
  });

  it('writes a Secure Boot store for a certificate that the harness reads as enforcing', () => {
    const der = Buffer.from(new X509Certificate(readFileSync(fw.snakeoilCert)).raw);
    const out = encodeVarStore(secureBootVarStore({ certDer: der, time: 1700000000 }), AAVMF_VARS);
    expect(out.length).toBe(readFileSync(fw.snakeoilVars).length);
    expect(out.subarray(0, 100).equals(readFileSync(fw.snakeoilVars).subarray(0, 100))).toBe(true); // FV and store headers
    expect(varsEnforceSecureBoot(out)).toBe(true);
  });
});
