/**
 * The variables that put OVMF in Secure Boot user mode with one certificate enrolled as PK, KEK and
 * db (what Debian's OVMF_VARS_4M.snakeoil.fd holds for its snakeoil certificate). Pure: certificate in,
 * variable store out; `encodeVarStore` makes the file.
 *
 * Why these variables: OVMF's AuthVariableLib reports SecureBoot=1 when a PK exists (SetupMode=0,
 * user mode) and `SecureBootEnable` is 1; `CustomMode` 0 means PK/KEK/db can only change through
 * signed updates from then on. db is what images are checked against; KEK and PK only authorise
 * changes to db and to each other. dbx gets one placeholder entry (the sha256 of nothing), as the
 * snakeoil file does, because some loaders (shim) treat a missing dbx as an error.
 */
import {
  CERT_DB_GUID, CUSTOM_MODE_GUID, EFI_CERT_SHA256, EFI_CERT_X509, EFI_GLOBAL_VARIABLE, EFI_IMAGE_SECURITY_DATABASE,
  EFI_VARIABLE_BOOTSERVICE_ACCESS, EFI_VARIABLE_NON_VOLATILE, EFI_VARIABLE_TIME_BASED_AUTHENTICATED_WRITE_ACCESS,
  efiTimeFromEpoch, encodeSignatureList, SECURE_BOOT_ENABLE_GUID, SECURE_BOOT_KEY_ATTRIBUTES, VENDOR_KEYS_NV_GUID,
  type UefiVariable, type VarStore,
} from './ovmf-vars.js';

/** imgbuild's owner GUID for the signature entries it enrolls (the owner is informational). */
export const IMGBUILD_SIGNATURE_OWNER = 'cb38ba3c-1030-40a0-a96a-1b2fd0d565c5';

/** sha256 of the empty string: the placeholder dbx entry revokes no real image. */
const EMPTY_SHA256 = Buffer.from('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', 'hex');

export interface EnrollOptions {
  /** The certificate, DER. */
  certDer: Buffer;
  /** Signature owner for PK, KEK, db, dbx entries. Default IMGBUILD_SIGNATURE_OWNER. */
  owner?: string | { pk: string; kek: string; db: string; dbx: string };
  /** Seconds since the epoch for the authenticated variables' timestamps (SOURCE_DATE_EPOCH: reproducible). */
  time: number;
}

const NV_BS = EFI_VARIABLE_NON_VOLATILE | EFI_VARIABLE_BOOTSERVICE_ACCESS;

/** The PK, KEK and db variable payloads: one X509 signature list holding the certificate. */
export function certSignatureList(certDer: Buffer, owner: string): Buffer {
  return encodeSignatureList(EFI_CERT_X509, [{ owner, data: certDer }]);
}

export function secureBootVarStore(o: EnrollOptions): VarStore {
  const own = typeof o.owner === 'object' ? o.owner : { pk: o.owner ?? IMGBUILD_SIGNATURE_OWNER, kek: o.owner ?? IMGBUILD_SIGNATURE_OWNER, db: o.owner ?? IMGBUILD_SIGNATURE_OWNER, dbx: o.owner ?? IMGBUILD_SIGNATURE_OWNER };
  const timestamp = efiTimeFromEpoch(o.time);
  const key = (name: string, guid: string, data: Buffer): UefiVariable => ({ name, guid, attributes: SECURE_BOOT_KEY_ATTRIBUTES, data, timestamp });
  return {
    variables: [
      // AuthVariableLib's list of cert-signed variables: empty (a UINT32 total size of 4).
      { name: 'certdb', guid: CERT_DB_GUID, attributes: SECURE_BOOT_KEY_ATTRIBUTES, data: Buffer.from([4, 0, 0, 0]) },
      key('db', EFI_IMAGE_SECURITY_DATABASE, certSignatureList(o.certDer, own.db)),
      key('dbx', EFI_IMAGE_SECURITY_DATABASE, encodeSignatureList(EFI_CERT_SHA256, [{ owner: own.dbx, data: EMPTY_SHA256 }])),
      key('KEK', EFI_GLOBAL_VARIABLE, certSignatureList(o.certDer, own.kek)),
      key('PK', EFI_GLOBAL_VARIABLE, certSignatureList(o.certDer, own.pk)),
      { name: 'VendorKeysNv', guid: VENDOR_KEYS_NV_GUID, attributes: NV_BS | EFI_VARIABLE_TIME_BASED_AUTHENTICATED_WRITE_ACCESS, data: Buffer.from([0]) },
      { name: 'SecureBootEnable', guid: SECURE_BOOT_ENABLE_GUID, attributes: NV_BS, data: Buffer.from([1]) },
      { name: 'CustomMode', guid: CUSTOM_MODE_GUID, attributes: NV_BS, data: Buffer.from([0]) },
    ],
  };
}
