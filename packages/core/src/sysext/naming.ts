/**
 * The names a system extension is known by, from one set of facts (name, version, architecture): the
 * image file name, the sysupdate match pattern that finds it again, the partition types and labels.
 * Keeping them in one place is what makes a published folder and its transfer file agree.
 */
import { UsageError } from '../errors.js';
import { TYPE_ALIASES } from '../gpt/types.js';
import { ARCHITECTURES, parseArchitecture, type Architecture } from '../arch.js';

/** Architectures we build for, by their systemd/UAPI name (as in ARCHITECTURE= and `%a`): the architecture table's. */
export const SYSEXT_ARCHES = ARCHITECTURES;
/**
 * The architecture a system extension is for, in systemd's names (`ARCHITECTURE=`).
 *
 * @example
 * ```ts
 * const arch: SysextArch = 'arm64';
 * ```
 */
export type SysextArch = Architecture;

/**
 * The DDI partitions of one architecture: types from gpt/types.ts, labels as systemd-repart defaults
 * them. A `root` partition, as systemd's own sysext.repart.d (10-root.conf: CopyFiles=/usr/ and /opt/):
 * systemd mounts a root partition at the extension's top, so the tree's usr/ and opt/ land where they
 * belong. A `usr` partition would be mounted at the extension's /usr, and a tree holding usr/ inside it
 * showed up as /usr/usr: systemd 254 found no extension-release file and refused the image ("No medium
 * found"), seen on the example OS's first boot with such an image.
 */
export interface ArchPartitions {
  dataType: string;
  verityType: string;
  /** systemd-repart labels a partition with its type's name when no Label= is given. */
  dataLabel: string;
  verityLabel: string;
}

export function archPartitions(arch: SysextArch): ArchPartitions {
  const root = `root-${arch}`;
  return { dataType: TYPE_ALIASES[root], verityType: TYPE_ALIASES[`${root}-verity`], dataLabel: root, verityLabel: `${root}-verity` };
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
  const a = parseArchitecture(arch);
  if (!a) throw new UsageError(`--arch must be one of ${SYSEXT_ARCHES.join(', ')} (got "${arch}")`);
  return a;
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
