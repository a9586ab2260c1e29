/**
 * Authenticode, as UEFI firmware checks it: the PE image digest (the file minus its checksum field,
 * its certificate-table directory entry and the certificate table itself) and the PKCS#7 SignedData
 * in the certificate table that signs it. Pure: bytes in, a verdict out. The firmware's own code is
 * edk2's DxeImageVerificationLib; the signing tool's verifiers (osslsigncode verify, sbverify) judge
 * this module in the tests.
 */
import { createHash, verify as verifySignature, X509Certificate } from 'node:crypto';
import { decodePe, PE_DIR_SECURITY } from './pe.js';
import { derBytes, derChildren, derOid, derValue, readDer, type DerNode } from './der.js';

const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
const OID_SPC_INDIRECT_DATA = '1.3.6.1.4.1.311.2.1.4';
const OID_MESSAGE_DIGEST = '1.2.840.113549.1.9.4';
const DIGESTS: Record<string, string> = { '2.16.840.1.101.3.4.2.1': 'sha256', '2.16.840.1.101.3.4.2.2': 'sha384', '2.16.840.1.101.3.4.2.3': 'sha512', '1.3.14.3.2.26': 'sha1' };
/** WIN_CERTIFICATE.wCertificateType for PKCS#7 SignedData. */
const WIN_CERT_TYPE_PKCS_SIGNED_DATA = 0x0002;

export interface PeSignature {
  /** The PKCS#7 SignedData DER from the certificate table. */
  pkcs7: Buffer;
  /** File offset and size of the certificate table (excluded from the image digest). */
  tableOffset: number;
  tableSize: number;
}

/** The first WIN_CERTIFICATE of the certificate table, or null when the file is unsigned. */
export function peSignature(pe: Buffer): PeSignature | null {
  const h = decodePe(pe);
  const dir = h.dataDirectories[PE_DIR_SECURITY];
  if (!dir || dir.size === 0) return null;
  // The "virtual address" of this directory entry is a file offset; the table is not loaded.
  if (dir.virtualAddress + dir.size > pe.length || dir.size < 8) throw new Error('certificate table runs past the end of the file');
  const len = pe.readUInt32LE(dir.virtualAddress); // dwLength, header included
  const type = pe.readUInt16LE(dir.virtualAddress + 6); // wCertificateType (wRevision at +4)
  if (type !== WIN_CERT_TYPE_PKCS_SIGNED_DATA) throw new Error(`certificate type 0x${type.toString(16)} is not PKCS#7 SignedData`);
  if (len < 8 || len > dir.size) throw new Error('certificate entry length out of range');
  return { pkcs7: Buffer.from(pe.subarray(dir.virtualAddress + 8, dir.virtualAddress + len)), tableOffset: dir.virtualAddress, tableSize: dir.size };
}

/** The Authenticode digest of a PE image (PE/COFF spec, "Calculating the PE Image Hash"). */
export function authenticodeDigest(pe: Buffer, alg = 'sha256'): Buffer {
  const h = decodePe(pe);
  const hash = createHash(alg);
  const certEntry = h.offsets.dataDirectories + PE_DIR_SECURITY * 8;
  hash.update(pe.subarray(0, h.offsets.checksum)); // up to CheckSum
  hash.update(pe.subarray(h.offsets.checksum + 4, certEntry)); // CheckSum skipped, up to the cert table entry
  hash.update(pe.subarray(certEntry + 8, h.sizeOfHeaders)); // the entry skipped, the rest of the headers
  let hashed = h.sizeOfHeaders;
  for (const s of [...h.sections].filter((x) => x.sizeOfRawData > 0).sort((a, b) => a.pointerToRawData - b.pointerToRawData)) {
    hash.update(pe.subarray(s.pointerToRawData, s.pointerToRawData + s.sizeOfRawData));
    hashed = Math.max(hashed, s.pointerToRawData + s.sizeOfRawData);
  }
  // Whatever follows the last section, the certificate table aside (edk2 hashes it too).
  const sig = h.dataDirectories[PE_DIR_SECURITY];
  const end = sig && sig.size ? sig.virtualAddress : pe.length;
  if (end > hashed) hash.update(pe.subarray(hashed, end));
  return hash.digest();
}

export type AuthenticodeVerdict =
  | { ok: true; signer: X509Certificate; digestAlgorithm: string }
  | { ok: false; reason: string; signer?: X509Certificate };

function expectSeq(buf: Buffer, n: DerNode, what: string): DerNode[] {
  if (n.tag !== 0x30 && n.tag !== 0x31 && (n.tag & 0xe0) !== 0xa0) throw new Error(`${what}: not a constructed value`);
  return derChildren(buf, n);
}

/**
 * Checks a signed PE against a trusted certificate: the signed digest equals the file's, the signed
 * attributes carry the digest of the signed content, the signature verifies with the signer's key, and
 * the signer is the trusted certificate or was issued by it (the firmware's db check, one level).
 */
export function verifyAuthenticode(pe: Buffer, trusted: X509Certificate): AuthenticodeVerdict {
  let sig: PeSignature | null;
  try {
    sig = peSignature(pe);
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
  if (!sig) return { ok: false, reason: 'not signed (no certificate table)' };
  try {
    const p = sig.pkcs7;
    const [ctype, ctx] = expectSeq(p, readDer(p, 0), 'ContentInfo');
    if (derOid(p, ctype) !== OID_SIGNED_DATA) return { ok: false, reason: 'the signature is not PKCS#7 SignedData' };
    const sd = expectSeq(p, derChildren(p, ctx)[0], 'SignedData');
    // version, digestAlgorithms, contentInfo, [0] certificates?, [1] crls?, signerInfos
    const content = expectSeq(p, sd[2], 'contentInfo');
    if (derOid(p, content[0]) !== OID_SPC_INDIRECT_DATA) return { ok: false, reason: 'the signed content is not Authenticode (SpcIndirectDataContent)' };
    const spc = derChildren(p, content[1])[0]; // [0] EXPLICIT SpcIndirectDataContent
    const digestInfo = expectSeq(p, derChildren(p, spc)[1], 'DigestInfo');
    const alg = DIGESTS[derOid(p, derChildren(p, digestInfo[0])[0])];
    if (!alg) return { ok: false, reason: 'unknown digest algorithm' };
    const signedDigest = derValue(p, digestInfo[1]);
    if (!signedDigest.equals(authenticodeDigest(pe, alg))) return { ok: false, reason: `the file was changed after signing (its ${alg} Authenticode digest differs from the signed one)` };
    const certs = sd.filter((n) => n.tag === 0xa0).flatMap((n) => derChildren(p, n)).map((n) => new X509Certificate(derBytes(p, n)));
    const signerInfo = expectSeq(p, derChildren(p, sd[sd.length - 1])[0], 'SignerInfo');
    // version, issuerAndSerialNumber, digestAlgorithm, [0] authenticatedAttributes, digestEncryptionAlgorithm, encryptedDigest
    const attrs = signerInfo[3];
    if (attrs.tag !== 0xa0) return { ok: false, reason: 'no signed attributes' };
    const md = derChildren(p, attrs).map((a) => derChildren(p, a)).find((a) => derOid(p, a[0]) === OID_MESSAGE_DIGEST);
    if (!md) return { ok: false, reason: 'no messageDigest attribute' };
    // The message digest covers the SpcIndirectDataContent's value bytes (not its tag and length).
    if (!derValue(p, derChildren(p, md[1])[0]).equals(createHash(alg).update(derValue(p, spc)).digest())) return { ok: false, reason: 'the signed attributes do not match the signed content' };
    const signedAttrs = derBytes(p, attrs);
    signedAttrs[0] = 0x31; // signed as a SET OF, stored as [0] IMPLICIT
    const signature = derValue(p, signerInfo[5]);
    const signer = certs.find((c) => verifySignature(alg, signedAttrs, c.publicKey, signature));
    if (!signer) return { ok: false, reason: 'the signature does not verify with any certificate it carries' };
    const trustedSelf = signer.fingerprint256 === trusted.fingerprint256;
    if (!trustedSelf && !(signer.checkIssued(trusted) && signer.verify(trusted.publicKey))) {
      return { ok: false, reason: `signed by "${signer.subject.replace(/\n/g, ', ')}", which is not the given certificate nor issued by it`, signer };
    }
    return { ok: true, signer, digestAlgorithm: alg };
  } catch (e) {
    return { ok: false, reason: `malformed signature: ${(e as Error).message}` };
  }
}

/** The certificates a signature carries (to find the one the manifest names by fingerprint). */
export function signatureCertificates(pe: Buffer): X509Certificate[] {
  const sig = peSignature(pe);
  if (!sig) return [];
  const p = sig.pkcs7;
  const sd = derChildren(p, derChildren(p, derChildren(p, readDer(p, 0))[1])[0]);
  return sd.filter((n) => n.tag === 0xa0).flatMap((n) => derChildren(p, n)).map((n) => new X509Certificate(derBytes(p, n)));
}
