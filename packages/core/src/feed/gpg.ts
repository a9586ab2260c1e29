/**
 * The feed's OpenPGP signature, made by gpg itself: systemd-pull checks `SHA256SUMS.gpg` by running
 * gpg against /usr/lib/systemd/import-pubring.gpg, so the publisher uses the same tool.
 */
import { execa } from '../exec.js';
import { InputError, ToolError } from '../errors.js';

/**
 * The publisher's OpenPGP key, used through gpg itself.
 *
 * @example
 * ```ts
 * const gpg: GpgSigner = { key: 'releases@example.com', homedir: '/etc/imgbuild/gnupg' };
 * ```
 */
export interface GpgSigner {
  /** The key to sign with: a fingerprint, key ID or user ID in the keyring. */
  key: string;
  /** GNUPGHOME; default gpg's own. */
  homedir?: string;
}

const gpgArgs = (g: GpgSigner) => ['--batch', '--no-tty', '--yes', ...(g.homedir ? ['--homedir', g.homedir] : [])];

/** Checks the key can sign (it has a secret key) before anything is written. */
export async function checkGpgKey(g: GpgSigner): Promise<string> {
  const r = await execa('gpg', [...gpgArgs(g), '--with-colons', '--list-secret-keys', '--', g.key], { reject: false }).catch((e: unknown) => {
    throw new ToolError(`gpg not found (apt-get install gpg): ${(e as Error).message}`);
  });
  const fpr = /^fpr:+([0-9A-F]{40,64}):/m.exec(String(r.stdout))?.[1];
  if (r.exitCode !== 0 || !fpr) throw new InputError(`no secret key ${JSON.stringify(g.key)} to sign the feed with${g.homedir ? ` in ${g.homedir}` : ''} (gpg --list-secret-keys)`, { file: g.homedir });
  return fpr;
}

/** A detached binary signature of `file`, written to `out`. */
export async function gpgDetachSign(g: GpgSigner, file: string, out: string): Promise<void> {
  const r = await execa('gpg', [...gpgArgs(g), '--local-user', g.key, '--digest-algo', 'SHA256', '--detach-sign', '--output', out, file], { reject: false });
  if (r.exitCode !== 0) throw new ToolError(`gpg --detach-sign failed: ${String(r.stderr).trim().split('\n').pop()}`, { file });
}
