/**
 * The OVMF variable store against Debian's own files: decode → encode is byte-identical (the snakeoil
 * store with its deleted copies and the empty one), and the Secure Boot variables made for the
 * snakeoil certificate carry exactly the payloads and attributes Debian's snakeoil store has.
 */
import { existsSync, readFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CERT_DB_GUID, CUSTOM_MODE_GUID, decodeSignatureLists, decodeVarStore, EFI_CERT_X509, EFI_GLOBAL_VARIABLE, EFI_IMAGE_SECURITY_DATABASE, encodeVarStore, findVariable, SECURE_BOOT_ENABLE_GUID, VENDOR_KEYS_NV_GUID } from './ovmf-vars.js';
import { secureBootVarStore } from './secureboot-vars.js';

const SNAKEOIL_VARS = '/usr/share/OVMF/OVMF_VARS_4M.snakeoil.fd';
const BLANK_VARS = '/usr/share/OVMF/OVMF_VARS_4M.fd';
const SNAKEOIL_CERT = '/usr/share/ovmf/PkKek-1-snakeoil.pem';
const have = existsSync(SNAKEOIL_VARS) && existsSync(BLANK_VARS) && existsSync(SNAKEOIL_CERT);

describe.skipIf(!have)('OVMF variable store', () => {
  it('decodes Debian\'s snakeoil store and re-encodes it byte for byte', () => {
    const file = readFileSync(SNAKEOIL_VARS);
    const store = decodeVarStore(file);
    expect(store.variables.length).toBeGreaterThan(40); // live and deleted copies alike
    expect(encodeVarStore(store).equals(file)).toBe(true);
  });

  it('encodes the empty store as Debian\'s blank OVMF_VARS_4M.fd', () => {
    const file = readFileSync(BLANK_VARS);
    expect(decodeVarStore(file).variables).toEqual([]);
    expect(encodeVarStore({ variables: [] }).equals(file)).toBe(true);
  });

  it('makes, for the snakeoil certificate, the variables Debian\'s snakeoil store holds', () => {
    const snake = decodeVarStore(readFileSync(SNAKEOIL_VARS));
    const der = Buffer.from(new X509Certificate(readFileSync(SNAKEOIL_CERT)).raw);
    const live = (name: string, guid: string) => findVariable(snake, name, guid)!;
    const owners = {
      pk: decodeSignatureLists(live('PK', EFI_GLOBAL_VARIABLE).data)[0].entries[0].owner,
      kek: decodeSignatureLists(live('KEK', EFI_GLOBAL_VARIABLE).data)[0].entries[0].owner,
      db: decodeSignatureLists(live('db', EFI_IMAGE_SECURITY_DATABASE).data)[0].entries[0].owner,
      dbx: decodeSignatureLists(live('dbx', EFI_IMAGE_SECURITY_DATABASE).data)[0].entries[0].owner,
    };
    const ours = secureBootVarStore({ certDer: der, owner: owners, time: 1700000000 });
    const names: Array<[string, string]> = [
      ['PK', EFI_GLOBAL_VARIABLE], ['KEK', EFI_GLOBAL_VARIABLE], ['db', EFI_IMAGE_SECURITY_DATABASE], ['dbx', EFI_IMAGE_SECURITY_DATABASE],
      ['certdb', CERT_DB_GUID], ['VendorKeysNv', VENDOR_KEYS_NV_GUID], ['SecureBootEnable', SECURE_BOOT_ENABLE_GUID], ['CustomMode', CUSTOM_MODE_GUID],
    ];
    for (const [name, guid] of names) {
      const a = findVariable(ours, name, guid)!;
      const b = live(name, guid);
      expect({ name, attributes: a.attributes, data: a.data.toString('hex') }).toEqual({ name, attributes: b.attributes, data: b.data.toString('hex') });
      expect(!!a.timestamp, name).toBe(!!b.timestamp);
    }
    const pk = decodeSignatureLists(findVariable(ours, 'PK', EFI_GLOBAL_VARIABLE)!.data);
    expect(pk).toEqual([{ type: EFI_CERT_X509, entries: [{ owner: owners.pk, data: der }] }]);
    // and the file made from it decodes to the same variables
    const file = encodeVarStore(ours);
    expect(file.length).toBe(readFileSync(SNAKEOIL_VARS).length);
    expect(decodeVarStore(file).variables.map((v) => v.name)).toEqual(ours.variables.map((v) => v.name));
    expect(decodeVarStore(file).variables[4].timestamp).toMatchObject({ year: 2023, month: 11, day: 14 });
  });
});
