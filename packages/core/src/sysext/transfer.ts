/**
 * What a node needs to update an extension with systemd-sysupdate (sysupdate.d(5)): a transfer file,
 * and the release folder's SHA256SUMS, which is how a `url-file` source lists the versions on offer.
 *
 * Where the image lands on the node: versioned files in /var/lib/extensions.d/, and
 * /var/lib/extensions/NAME.raw, a symlink to the newest. systemd-sysext names an extension after the
 * file it finds, and looks for extension-release.<that name> inside, so the merged name must be NAME,
 * not NAME-VERSION-ARCH; that is the same reason Flatcar's sysext-bakery uses versioned files in
 * /opt/extensions/NAME/ with a CurrentSymlink= at /etc/extensions/NAME.raw. We keep everything under
 * /var (the only place a read-only-/usr node certainly has room for images) and outside /etc.
 */
import { UsageError } from '../errors.js';
import { extensionTarget, type ExtensionKind } from './kind.js';
import { sysextMatchPattern, type SysextArch } from './naming.js';

/** A system extension's; a configuration extension's are /var/lib/confexts.d and /var/lib/confexts (kind.ts). */
export const SYSEXT_TARGET_DIR = extensionTarget('sysext').targetDir;
export const SYSEXT_MERGE_DIR = extensionTarget('sysext').mergeDir;
/** Versions kept on the node: the running one and the one before it, to go back to. */
export const SYSEXT_INSTANCES_MAX = 2;

/**
 * Where systemd-sysupdate fetches an extension from: a URL (`url-file`) or a folder (`regular-file`).
 *
 * @example
 * ```ts
 * const x = await buildSysext({ fromDir: 'ext', name: 'tools', version: '2', sysupdate: { dir: 'releases', source: 'https://example.org/ext' } });
 * console.log(x.sysupdate?.source); // { type: 'url-file', path: 'https://example.org/ext' }
 * ```
 */
export type TransferSource = { type: 'url-file'; path: string } | { type: 'regular-file'; path: string };

/** An http(s) URL is served by a web server (`url-file`); an absolute path is a folder on the node (`regular-file`). */
export function transferSource(where: string): TransferSource {
  if (/^https?:\/\/[^\s/]+/.test(where) && !/\s/.test(where)) return { type: 'url-file', path: where };
  if (where.startsWith('/') && !/[\s%]/.test(where)) return { type: 'regular-file', path: where };
  throw new UsageError(`--sysupdate-source must be an http(s) URL or an absolute folder path without spaces or '%', got "${where}"`);
}

/**
 * `NAME.conf`: systemd-sysupdate 254 reads /etc/sysupdate.d/*.conf only (sysupdate.c,
 * conf_files_list_strv(…, ".conf", …)); a `NAME.transfer` was ignored ("No transfer definitions
 * found.") on the example OS. Later systemd versions name transfers *.transfer and still read *.conf.
 */
export function transferFileName(name: string): string {
  return `${name}.conf`;
}

/** The [Transfer]/[Source]/[Target] body both transfers share: one file pattern, its current symlink. */
function transferBody(o: { source: TransferSource; pattern: string; currentSymlink: string; targetDir: string }): string[] {
  return [
    '[Transfer]',
    "# The release folder's SHA256SUMS is not signed (no SHA256SUMS.gpg); the files are checked against it.",
    'Verify=false',
    '',
    '[Source]',
    `Type=${o.source.type}`,
    `Path=${o.source.path}`,
    `MatchPattern=${o.pattern}`,
    '',
    '[Target]',
    'Type=regular-file',
    `Path=${o.targetDir}`,
    `MatchPattern=${o.pattern}`,
    `CurrentSymlink=${o.currentSymlink}`,
    `InstancesMax=${SYSEXT_INSTANCES_MAX}`,
    '',
  ];
}

/** The transfer file for one extension, from the facts that also name its image (naming.ts). */
export function renderTransfer(o: { name: string; arch: SysextArch; source: TransferSource; kind?: ExtensionKind }): string {
  const t = extensionTarget(o.kind);
  return [
    `# systemd-sysupdate transfer for the ${o.name} ${t.noun}, written by imgbuild ${t.kind} build.`,
    `# Install as /etc/sysupdate.d/${transferFileName(o.name)}; ${t.tool} merges ${t.mergeDir}/${o.name}.raw.`,
    ...transferBody({ source: o.source, pattern: sysextMatchPattern(o.name, o.arch), currentSymlink: `${t.mergeDir}/${o.name}.raw`, targetDir: t.targetDir }),
  ].join('\n');
}

/**
 * The image's root hash file beside it: NAME-V-ARCH.raw → NAME-V-ARCH.roothash. systemd-sysext (v254:
 * verity_settings_load in src/shared/dissect-image.c) reads `<image minus .raw>.roothash` and sets up
 * dm-verity for the DDI only then (or with a verity signature partition, which we do not write);
 * without it the data partition is mounted as it is, verity partition or not. The partition UUIDs,
 * which are the root hash's halves, are used to pick partitions once the hash is known, not to derive it.
 */
export function roothashFileName(imageFile: string): string {
  return `${imageFile.replace(/\.raw$/, '')}.roothash`;
}

export function roothashTransferFileName(name: string): string {
  return `${name}.roothash.conf`;
}

/**
 * The second transfer: the root hash file travels with its image, version for version, and
 * /var/lib/extensions/NAME.roothash follows /var/lib/extensions/NAME.raw (sysupdate installs the one
 * version every transfer offers). A stale hash would not match the new image's partition UUIDs and
 * the merge would fail.
 */
export function renderRoothashTransfer(o: { name: string; arch: SysextArch; source: TransferSource; kind?: ExtensionKind }): string {
  const t = extensionTarget(o.kind);
  return [
    `# systemd-sysupdate transfer for the ${o.name} ${t.noun}'s root hash, written by imgbuild ${t.kind} build.`,
    `# Install as /etc/sysupdate.d/${roothashTransferFileName(o.name)} beside ${transferFileName(o.name)}: ${t.tool}`,
    `# checks ${t.mergeDir}/${o.name}.raw with dm-verity only when ${o.name}.roothash lies beside it.`,
    ...transferBody({ source: o.source, pattern: roothashFileName(sysextMatchPattern(o.name, o.arch)), currentSymlink: `${t.mergeDir}/${o.name}.roothash`, targetDir: t.targetDir }),
  ].join('\n');
}

/** sha256sum(1) text-mode lines, sorted by file name (what sysupdate reads from a url-file source). */
export function renderSha256Sums(files: { name: string; sha256: string }[]): string {
  return [...files]
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    .map((f) => `${f.sha256}  ${f.name}\n`)
    .join('');
}
