/**
 * A TPM 2.0 quote: the TPMS_ATTEST structure the TPM signs (TPM 2.0 Part 2, 10.12) and its
 * TPMT_SIGNATURE (11.3.4), as `tpm2_quote -m MSG -s SIG` writes them. Pure decoders plus the checks a
 * verifier makes: the signature under the attestation key, the qualifying data, the PCR digest.
 * All TPM integers are big-endian.
 */
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto';
import { CorruptError } from '../errors.js';

export const TPM_GENERATED_VALUE = 0xff544347; // "\xffTCG"
export const TPM_ST_ATTEST_QUOTE = 0x8018;
export const TPM_ALG_SHA256 = 0x000b;
const TPM_ALG_RSASSA = 0x0014;
const TPM_ALG_RSAPSS = 0x0016;
const TPM_ALG_ECDSA = 0x0018;
const HASH_NAMES: Record<number, string> = { 0x0004: 'sha1', 0x000b: 'sha256', 0x000c: 'sha384', 0x000d: 'sha512' };

export interface PcrSelection {
  /** TPM_ALG_ID of the bank. */
  hash: number;
  /** PCR indices selected, ascending. */
  pcrs: number[];
}

export interface QuoteInfo {
  qualifiedSigner: Buffer;
  /** The qualifying data the caller passed (tpm2_quote -q): the verifier's nonce, or a digest over it. */
  extraData: Buffer;
  clock: bigint;
  resetCount: number;
  restartCount: number;
  safe: boolean;
  firmwareVersion: bigint;
  pcrSelect: PcrSelection[];
  /** Hash (of the signing scheme's algorithm) over the selected PCRs' values, in selection order. */
  pcrDigest: Buffer;
}

export interface TpmSignature {
  /** 'ecdsa', 'rsassa' or 'rsapss'. */
  scheme: 'ecdsa' | 'rsassa' | 'rsapss';
  hash: string;
  /** ECDSA: r and s; RSA: the signature. */
  r?: Buffer;
  s?: Buffer;
  sig?: Buffer;
}

class Reader {
  off = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}
  private need(n: number): void {
    if (this.off + n > this.buf.length)
      throw new CorruptError(`${this.what} truncated at byte ${this.off} (needs ${n} more, has ${this.buf.length - this.off})`);
  }
  u8(): number {
    this.need(1);
    return this.buf.readUInt8(this.off++);
  }
  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16BE(this.off);
    this.off += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32BE(this.off);
    this.off += 4;
    return v;
  }
  u64(): bigint {
    this.need(8);
    const v = this.buf.readBigUInt64BE(this.off);
    this.off += 8;
    return v;
  }
  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.off, this.off + n);
    this.off += n;
    return b;
  }
  /** A TPM2B: u16 size, then that many bytes. */
  sized(): Buffer {
    return this.bytes(this.u16());
  }
  end(): void {
    if (this.off !== this.buf.length) throw new CorruptError(`${this.what} has ${this.buf.length - this.off} bytes after its end`);
  }
}

/** Decodes the signed TPMS_ATTEST of a quote. Throws CorruptError for anything else. */
export function decodeQuote(msg: Buffer): QuoteInfo {
  const r = new Reader(msg, 'quote (TPMS_ATTEST)');
  const magic = r.u32(); // magic: TPM_GENERATED_VALUE, so a TPM signs nothing it did not make
  if (magic !== TPM_GENERATED_VALUE) throw new CorruptError(`quote: magic 0x${magic.toString(16)} is not TPM_GENERATED_VALUE`);
  const type = r.u16(); // type: TPM_ST_ATTEST_QUOTE
  if (type !== TPM_ST_ATTEST_QUOTE) throw new CorruptError(`quote: type 0x${type.toString(16)} is not TPM_ST_ATTEST_QUOTE`);
  const qualifiedSigner = r.sized(); // TPM2B_NAME of the signing key
  const extraData = r.sized(); // TPM2B_DATA
  const clock = r.u64(); // TPMS_CLOCK_INFO: clock, resetCount, restartCount, safe
  const resetCount = r.u32();
  const restartCount = r.u32();
  const safe = r.u8() === 1;
  const firmwareVersion = r.u64();
  const pcrSelect: PcrSelection[] = [];
  const count = r.u32(); // TPML_PCR_SELECTION
  if (count > 16) throw new CorruptError(`quote: ${count} PCR banks selected`);
  for (let i = 0; i < count; i++) {
    const hash = r.u16();
    const bitmap = r.bytes(r.u8()); // sizeofSelect, then one bit per PCR, PCR 0 = bit 0 of byte 0
    const pcrs: number[] = [];
    bitmap.forEach((byte, j) => {
      for (let b = 0; b < 8; b++) if (byte & (1 << b)) pcrs.push(j * 8 + b);
    });
    pcrSelect.push({ hash, pcrs });
  }
  const pcrDigest = r.sized(); // TPM2B_DIGEST
  r.end();
  return { qualifiedSigner, extraData, clock, resetCount, restartCount, safe, firmwareVersion, pcrSelect, pcrDigest };
}

/** Decodes a TPMT_SIGNATURE (ECDSA, RSASSA or RSAPSS). */
export function decodeSignature(buf: Buffer): TpmSignature {
  const r = new Reader(buf, 'quote signature (TPMT_SIGNATURE)');
  const alg = r.u16();
  const hashId = r.u16();
  const hash = HASH_NAMES[hashId];
  if (!hash) throw new CorruptError(`quote signature: unknown hash algorithm 0x${hashId.toString(16)}`);
  let sig: TpmSignature;
  if (alg === TPM_ALG_ECDSA) sig = { scheme: 'ecdsa', hash, r: r.sized(), s: r.sized() };
  else if (alg === TPM_ALG_RSASSA || alg === TPM_ALG_RSAPSS) sig = { scheme: alg === TPM_ALG_RSASSA ? 'rsassa' : 'rsapss', hash, sig: r.sized() };
  else throw new CorruptError(`quote signature: unsupported scheme 0x${alg.toString(16)}`);
  r.end();
  return sig;
}

/** Whether `sig` over `msg` verifies under the public key `key` (PEM or KeyObject). */
export function quoteSignatureValid(msg: Buffer, sig: TpmSignature, key: string | KeyObject): boolean {
  const pub = typeof key === 'string' ? createPublicKey(key) : key;
  if (sig.scheme === 'ecdsa') {
    const size = Math.ceil((pub.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? 384 : pub.asymmetricKeyDetails?.namedCurve === 'secp521r1' ? 521 : 256) / 8);
    const pad = (b: Buffer) => (b.length >= size ? b.subarray(b.length - size) : Buffer.concat([Buffer.alloc(size - b.length), b]));
    return verify(sig.hash, msg, { key: pub, dsaEncoding: 'ieee-p1363' }, Buffer.concat([pad(sig.r!), pad(sig.s!)]));
  }
  const padding = sig.scheme === 'rsapss' ? 6 /* RSA_PKCS1_PSS_PADDING */ : 1; /* RSA_PKCS1_PADDING */
  return verify(sig.hash, msg, { key: pub, padding }, sig.sig!);
}

/** The PCR digest a quote over these values (in selection order) carries. */
export function pcrDigest(values: Buffer[], hash = 'sha256'): Buffer {
  const h = createHash(hash);
  for (const v of values) h.update(v);
  return h.digest();
}

/** sha256 of a DER SubjectPublicKeyInfo: how a verifier names and pins an attestation key. */
export function keyFingerprint(key: string | KeyObject): string {
  const pub = typeof key === 'string' ? createPublicKey(key) : key;
  return createHash('sha256')
    .update(pub.export({ type: 'spki', format: 'der' }))
    .digest('hex');
}
