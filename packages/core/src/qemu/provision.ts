/**
 * What a qemu guest is given for its first boot, besides its disk: an Ignition config and systemd
 * credentials, as qemu arguments (pure; run.ts writes the files they name).
 *
 * - Ignition reads its config on qemu from fw_cfg `opt/com.coreos/config` (Ignition's qemu platform,
 *   Debian's ignition 2.14); Flatcar's own Ignition reads `opt/org.flatcar-linux/config`.
 * - systemd 254 imports credentials from SMBIOS type 11 strings (`io.systemd.credential.binary:NAME=
 *   BASE64`) and from fw_cfg `opt/io.systemd.credentials/NAME`. SMBIOS on x86-64 (q35 always has it);
 *   fw_cfg elsewhere. The binary form keeps any value (newlines, commas) out of qemu's option syntax.
 */
import { InputError, UsageError } from '../errors.js';
import type { Architecture } from '../arch.js';

export const IGNITION_FW_CFG = 'opt/com.coreos/config';
export const CREDENTIAL_FW_CFG_DIR = 'opt/io.systemd.credentials';
/** qemu's fw_cfg file names are at most 55 bytes (FW_CFG_MAX_FILE_PATH 56, NUL included). */
const FW_CFG_NAME_MAX = 55;
export const CREDENTIAL_NAME_MAX = FW_CFG_NAME_MAX - CREDENTIAL_FW_CFG_DIR.length - 1;
/** Ignition 2.14 (Debian 12) accepts config specs 3.0.0 to 3.3.0. */
export const IGNITION_SPEC_MAX = '3.3.0';

/**
 * One systemd credential for the guest: a name and its bytes.
 *
 * @example
 * ```ts
 * const c: Credential = { name: 'tmpfiles.extra', value: Buffer.from('f /etc/motd.d/fleet 0644 - - - managed\n') };
 * ```
 */
export interface Credential {
  name: string;
  value: Buffer;
}

// systemd's credential_name_valid() allows any file name; we keep to the characters credential names
// use in practice, so that a name is also a safe fw_cfg file name and SMBIOS key.
const CREDENTIAL_NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9._@:+-]*$/;

/** `NAME=VALUE` from `--credential` (the value may be empty and may hold '='). */
export function parseCredential(spec: string, flag = '--credential'): Credential {
  const eq = spec.indexOf('=');
  if (eq <= 0) throw new UsageError(`${flag} takes NAME=VALUE, got "${spec}"`);
  const name = spec.slice(0, eq);
  if (!CREDENTIAL_NAME_RE.test(name) || name.length > CREDENTIAL_NAME_MAX) {
    throw new UsageError(`${flag}: credential name "${name}" must be 1-${CREDENTIAL_NAME_MAX} letters, digits and . _ @ : + - (not starting with . or -)`);
  }
  return { name, value: Buffer.from(spec.slice(eq + 1), 'utf8') };
}

/**
 * Several `--credential` flags; the same name twice is a mistake (which one would the guest see?).
 *
 * @example
 * ```ts
 * const credentials = parseCredentials(['ssh.authorized_keys.root=ssh-ed25519 AAAA… admin', 'firstboot.timezone=UTC']);
 * await runQemu({ image: 'disk.raw', credentials });
 * ```
 */
export function parseCredentials(specs: string[], flag = '--credential'): Credential[] {
  const out: Credential[] = [];
  for (const s of specs) {
    const c = parseCredential(s, flag);
    if (out.some((o) => o.name === c.name)) throw new UsageError(`${flag}: credential "${c.name}" given twice`);
    out.push(c);
  }
  return out;
}

/** A value inside one qemu option (`key=value,key=value`): commas are doubled. */
export function qemuOptionValue(s: string): string {
  return s.replace(/,/g, ',,');
}

/** How credentials reach the guest: SMBIOS on x86-64, fw_cfg where the machine has no SMBIOS tables to extend. */
export function credentialTransport(arch: Architecture): 'smbios' | 'fw_cfg' {
  return arch === 'x86-64' ? 'smbios' : 'fw_cfg';
}

/**
 * qemu arguments for the credentials. `fileOf(name)` is where run.ts wrote a credential's value for
 * fw_cfg (fw_cfg's `string=` cannot carry every byte).
 */
export function credentialArgs(creds: Credential[], via: 'smbios' | 'fw_cfg', fileOf: (name: string) => string): string[] {
  return creds.flatMap((c) =>
    via === 'smbios'
      ? ['-smbios', `type=11,value=io.systemd.credential.binary:${c.name}=${c.value.toString('base64')}`]
      : ['-fw_cfg', `name=${CREDENTIAL_FW_CFG_DIR}/${c.name},file=${qemuOptionValue(fileOf(c.name))}`],
  );
}

/** The Ignition config as fw_cfg (the file is read by qemu when it starts). */
export function ignitionArgs(configPath: string): string[] {
  return ['-fw_cfg', `name=${IGNITION_FW_CFG},file=${qemuOptionValue(configPath)}`];
}

export interface IgnitionSummary {
  version: string;
  files: number;
  directories: number;
  links: number;
  users: number;
  units: number;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const list = (o: Json | undefined, key: string): unknown[] => (o && Array.isArray(o[key]) ? (o[key] as unknown[]) : []);
const versionParts = (v: string) => v.split(/[.-]/).slice(0, 3).map(Number);

/** Where provisioning may write: /etc and /var (the example OS's /home is a link to /var/home). */
export const PROVISIONED_PREFIXES = ['/etc', '/var', '/home'] as const;

/**
 * Checks an Ignition config before it is handed to a guest, as the image's first boot will (the
 * initrd's imgbuild-ignition refuses the same things): JSON, a 3.x spec Ignition 2.14 reads, no storage
 * layout (ROOT is the image's own, already mounted), every path under /etc, /var or /home (/usr is the
 * verified image). Errors are one line; the caller names the file. What Ignition itself would reject
 * later (a bad data URL, a hash mismatch) is left to Ignition: that is the first boot's failure.
 * Throws InputError naming no file (the caller adds it).
 */
export function checkIgnitionConfig(text: string): IgnitionSummary {
  let cfg: unknown;
  try {
    cfg = JSON.parse(text);
  } catch (e) {
    throw new InputError(`not an Ignition config: not JSON (${(e as Error).message})`);
  }
  if (!isObject(cfg) || !isObject(cfg.ignition) || typeof cfg.ignition.version !== 'string') {
    throw new InputError('not an Ignition config: no ignition.version (a Butane file must be transpiled first: butane config.bu > config.ign)');
  }
  const version = cfg.ignition.version;
  const [maj, min, patch] = versionParts(version);
  const [, maxMin, maxPatch] = versionParts(IGNITION_SPEC_MAX);
  if (!/^\d+\.\d+\.\d+(-experimental)?$/.test(version) || maj !== 3 || min > maxMin || (min === maxMin && patch > maxPatch)) {
    throw new InputError(`ignition.version "${version}": the example OS's Ignition 2.14 reads specs 3.0.0 to ${IGNITION_SPEC_MAX}`);
  }
  const storage = isObject(cfg.storage) ? cfg.storage : undefined;
  for (const key of ['disks', 'raid', 'filesystems', 'luks']) {
    if (list(storage, key).length) throw new InputError(`storage.${key}: the image's partitions and ROOT filesystem are its own; provisioning changes only /etc and /var`);
  }
  for (const key of ['files', 'directories', 'links']) {
    for (const [i, entry] of list(storage, key).entries()) {
      const path = isObject(entry) ? entry.path : undefined;
      if (typeof path !== 'string' || !path.startsWith('/')) throw new InputError(`storage.${key}[${i}].path: an absolute path is required`);
      const norm = path.split('/').filter((p) => p && p !== '.');
      if (norm.includes('..') || !PROVISIONED_PREFIXES.includes(`/${norm[0]}` as (typeof PROVISIONED_PREFIXES)[number])) {
        throw new InputError(`storage.${key}[${i}].path "${path}" is outside ${PROVISIONED_PREFIXES.join(', ')}: /usr is the verified image, provisioning changes only /etc and /var`);
      }
    }
  }
  const passwd = isObject(cfg.passwd) ? cfg.passwd : undefined;
  for (const [i, u] of list(passwd, 'users').entries()) {
    const home = isObject(u) ? u.homeDir : undefined;
    if (typeof home === 'string' && !PROVISIONED_PREFIXES.some((p) => home === p || home.startsWith(`${p}/`))) {
      throw new InputError(`passwd.users[${i}].homeDir "${home}" is outside ${PROVISIONED_PREFIXES.join(', ')}`);
    }
  }
  const systemd = isObject(cfg.systemd) ? cfg.systemd : undefined;
  return {
    version,
    files: list(storage, 'files').length,
    directories: list(storage, 'directories').length,
    links: list(storage, 'links').length,
    users: list(passwd, 'users').length,
    units: list(systemd, 'units').length,
  };
}
