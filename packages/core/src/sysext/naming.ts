/**
 * The names a system extension is known by, from one set of facts (name, version, architecture): the
 * image file name, the sysupdate match pattern that finds it again, the partition types and labels.
 * Keeping them in one place is what makes a published folder and its transfer file agree.
 */
import { UsageError } from '../errors.js';
import { TYPE_ALIASES } from '../gpt/types.js';

/** Architectures we build for, by their systemd/UAPI name (as in ARCHITECTURE= and `%a`). */
export const SYSEXT_ARCHES = ['x86-64'] as const;
export type SysextArch = (typeof SYSEXT_ARCHES)[number];

/** The DDI partitions of one architecture: types from gpt/types.ts, labels as systemd-repart defaults them. */
export interface ArchPartitions {
  usrType: string;
  verityType: string;
  /** systemd-repart labels a partition with its type's name when no Label= is given. */
  usrLabel: string;
  verityLabel: string;
}

export function archPartitions(arch: SysextArch): ArchPartitions {
  const usr = `usr-${arch}`;
  return { usrType: TYPE_ALIASES[usr], verityType: TYPE_ALIASES[`${usr}-verity`], usrLabel: usr, verityLabel: `${usr}-verity` };
}

// Extension names become file names, os-release file suffixes and sysupdate patterns: no '/', no
// whitespace, and none of sysupdate's pattern characters ('@', '%').
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;
// The UAPI Version Format Specification's character set; '/' or whitespace would break the file
// name, and '@'/'%' the match pattern.
const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9._+~^-]*$/;

export function checkSysextName(name: string): string {
  if (!NAME_RE.test(name) || name.length > 128) {
    throw new UsageError(`--name must start with a letter or digit and hold only letters, digits and . _ + - (got "${name}")`);
  }
  return name;
}

export function checkSysextVersion(version: string): string {
  if (!VERSION_RE.test(version) || version.length > 128) {
    throw new UsageError(`--version must start with a letter or digit and hold only letters, digits and . _ + ~ ^ - (got "${version}")`);
  }
  return version;
}

export function checkSysextArch(arch: string): SysextArch {
  if (!(SYSEXT_ARCHES as readonly string[]).includes(arch)) throw new UsageError(`--arch must be one of ${SYSEXT_ARCHES.join(', ')} (got "${arch}")`);
  return arch as SysextArch;
}

/**
 * `NAME-VERSION-ARCH.raw`, the Flatcar sysext-bakery convention (`kubernetes-v1.31.0-x86-64.raw`);
 * `version` may be sysupdate's `@v` placeholder, which gives the match pattern instead.
 */
export function sysextFileName(name: string, version: string, arch: SysextArch): string {
  return `${name}-${version}-${arch}.raw`;
}

/** The systemd-sysupdate MatchPattern= that finds every version of the extension's image. */
export function sysextMatchPattern(name: string, arch: SysextArch): string {
  return sysextFileName(name, '@v', arch);
}
