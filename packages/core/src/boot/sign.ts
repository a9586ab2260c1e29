/**
 * Authenticode signing of PE files (the slot selector, each UKI) with osslsigncode, SHA-256. Why
 * osslsigncode and not sbsign: given `-time`, its signature is a pure function of the file, key and
 * certificate (RSA PKCS#1 v1.5 is deterministic), so a signed image is as reproducible as an unsigned
 * one; sbsign embeds the wall-clock signing time.
 *
 * The key and certificate are checked up front (the certificate parses, the password opens the key,
 * the key belongs to the certificate), so a typo fails before any image byte is written.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { InputError, ToolError, UsageError } from '../errors.js';
import { execa } from '../exec.js';

/** Where the private key's password comes from when not given: never a terminal prompt. */
export const SIGN_PASS_ENV = 'IMGBUILD_SIGN_PASS';

/**
 * The files of a Secure Boot signing key: a private key (PEM) and its certificate, and where its
 * password comes from.
 *
 * @example
 * ```ts
 * const sign: SigningKeyFiles = { key: 'db.key', cert: 'db.crt' };
 * await buildImage({ ...options, sign });
 * ```
 */
export interface SigningKeyFiles {
  key: string;
  cert: string;
  /** A file whose first line is the key's password. Else $IMGBUILD_SIGN_PASS, else no password. */
  passFile?: string;
}

export interface SigningKey {
  keyPath: string;
  certPath: string;
  /** The password, or undefined for an unencrypted key. */
  password?: string;
  cert: X509Certificate;
  /** sha256 of the certificate's DER: what the manifest records and verify checks against. */
  certSha256: string;
}

export function certSha256(cert: X509Certificate): string {
  return cert.fingerprint256.replace(/:/g, '').toLowerCase();
}

/**
 * Reads a PEM (or DER) certificate; InputError naming the file when it is not one.
 *
 * @example
 * ```ts
 * const cert = await readCertificate('db.crt');
 * console.log(cert.subject, cert.fingerprint256);
 * ```
 */
export async function readCertificate(path: string): Promise<X509Certificate> {
  const bytes = await fsp.readFile(path).catch(() => {
    throw new InputError('certificate not found', { file: path });
  });
  try {
    return new X509Certificate(bytes);
  } catch {
    throw new InputError('not an X.509 certificate (PEM or DER)', { file: path });
  }
}

/** Loads and cross-checks the signing key and certificate. */
export async function loadSigningKey(f: SigningKeyFiles): Promise<SigningKey> {
  const cert = await readCertificate(f.cert);
  let password: string | undefined;
  if (f.passFile) {
    const text = await fsp.readFile(f.passFile, 'utf8').catch(() => {
      throw new InputError('password file not found', { file: f.passFile });
    });
    password = text.split(/\r?\n/)[0];
  } else if (process.env[SIGN_PASS_ENV] !== undefined) {
    password = process.env[SIGN_PASS_ENV];
  }
  const pem = await fsp.readFile(f.key).catch(() => {
    throw new InputError('signing key not found', { file: f.key });
  });
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: pem, passphrase: password ?? '' });
  } catch (e) {
    const msg = (e as Error).message;
    const encrypted = /pass|decrypt|bad decrypt/i.test(msg) || pem.includes('ENCRYPTED');
    throw new InputError(
      encrypted
        ? password === undefined
          ? `the key is encrypted: give its password with --sign-pass-file FILE or $${SIGN_PASS_ENV}`
          : 'the password does not open this key'
        : 'not a private key (PEM)',
      { file: f.key },
    );
  }
  if (key.asymmetricKeyType !== 'rsa') throw new InputError(`an RSA key is needed for UEFI Secure Boot, this one is ${key.asymmetricKeyType}`, { file: f.key });
  if (!cert.checkPrivateKey(key)) throw new InputError(`this key does not belong to the certificate ${f.cert}`, { file: f.key });
  return { keyPath: f.key, certPath: f.cert, password, cert, certSha256: certSha256(cert) };
}

/**
 * Both signing flags or neither; the password file only with them.
 *
 * @example
 * ```ts
 * signingFilesFromFlags({ signKey: 'db.key', signCert: 'db.crt' }); // { key: 'db.key', cert: 'db.crt' }
 * signingFilesFromFlags({}); // undefined: unsigned
 * ```
 */
export function signingFilesFromFlags(o: { signKey?: string; signCert?: string; signPassFile?: string }): SigningKeyFiles | undefined {
  if (!o.signKey && !o.signCert) {
    if (o.signPassFile) throw new UsageError('--sign-pass-file needs --sign-key and --sign-cert');
    return undefined;
  }
  if (!o.signKey || !o.signCert) throw new UsageError('give both --sign-key and --sign-cert');
  return { key: o.signKey, cert: o.signCert, passFile: o.signPassFile };
}

/**
 * Signs one PE file: Authenticode, SHA-256, the signing time fixed to `time` (SOURCE_DATE_EPOCH).
 * An existing signature is replaced, never nested.
 */
export async function signPe(pe: Buffer, k: SigningKey, time: number, what = 'PE file'): Promise<Buffer> {
  const dir = await mkdtemp(join(tmpdir(), 'imgbuild-sign-'));
  try {
    const input = join(dir, 'in.efi');
    const output = join(dir, 'out.efi');
    await fsp.writeFile(input, pe);
    const args = ['sign', '-certs', k.certPath, '-key', k.keyPath, '-h', 'sha256', '-time', String(time), '-in', input, '-out', output];
    // The password goes through a file in our private temp folder, not argv (visible in ps).
    if (k.password !== undefined) {
      const pass = join(dir, 'pass');
      await fsp.writeFile(pass, k.password, { mode: 0o600 });
      args.splice(5, 0, '-readpass', pass);
    }
    const r = await execa('osslsigncode', args, { reject: false }).catch((e: NodeJS.ErrnoException) => {
      throw new ToolError(e.code === 'ENOENT' ? 'osslsigncode not found (install osslsigncode, or run hack/install-deps.sh)' : `osslsigncode: ${e.message}`);
    });
    if (r.exitCode !== 0) throw new ToolError(`osslsigncode could not sign the ${what}: ${String(r.stderr || r.stdout).trim().split('\n').slice(-2).join(' ')}`);
    return await fsp.readFile(output);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
