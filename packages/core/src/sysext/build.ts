/**
 * `buildSysext`: a folder holding usr/ (and opt/) → a system extension image for systemd-sysext, a
 * DDI (GPT with root + root-verity) or a plain squashfs, and optionally the files systemd-sysupdate
 * needs to fetch it (transfer file, SHA256SUMS) in a release folder. `buildConfext`: the same
 * pipeline for a folder holding etc/ → a configuration extension for systemd-confext (kind.ts holds
 * what differs).
 *
 * Reproducible: the tree is copied, the extension-release file added, and the copy's digest (tree.ts)
 * is the seed of every identifier that would otherwise be random, derived the way systemd-repart
 * derives them from its --seed: verity salt = HMAC-SHA256(seed, "verity-salt"), verity superblock
 * UUID, erofs UUID and disk GUID = HMAC-SHA256(seed, label) as v4 UUIDs. Same tree and flags → same
 * bytes; another tree → another seed, root hash and partition UUIDs.
 */
import { createHash } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { assertWritableTarget, tempPathFor, trackTemporary, withAtomicOutput, writeFileAtomic } from '../atomic.js';
import { fsError, InputError, ToolError, UsageError } from '../errors.js';
import { checkSeed, deriveBytes, deriveUuid } from '../guid.js';
import { sourceDateEpochFromEnv } from '../repro.js';
import { deriveDiskGuid } from '../layout/plan.js';
import { writeDdi, type DdiPartition } from './ddi.js';
import { checkReleaseFacts, extensionReleasePath, mergeExtensionRelease, releaseDisagreements, renderExtensionRelease, type ExtensionReleaseFacts } from './extension-release.js';
import type { ExtensionKind } from './kind.js';
import { checkSysextArch, checkSysextName, checkSysextVersion, sysextFileName, type SysextArch } from './naming.js';
import { packSysextTree, type SysextFs } from './pack.js';
import { renderSha256Sums, renderTransfer, renderRoothashTransfer, transferFileName, transferSource, roothashFileName, roothashTransferFileName, type TransferSource } from './transfer.js';
import { checkSysextTree, stageTree, treeDigest } from './tree.js';

/**
 * What {@link buildSysext} writes: a Discoverable Disk Image with verity (`ddi`, the default) or a plain squashfs.
 *
 * @example
 * ```ts
 * await buildSysext({ fromDir: 'ext', name: 'tools', version: '1', format: 'squashfs' });
 * ```
 */
export type SysextFormat = 'ddi' | 'squashfs';
export const SHA256SUMS = 'SHA256SUMS';

/**
 * What {@link buildSysext} packs: the folder, the extension's name, version and host match, the format,
 * where it goes (and a systemd-sysupdate release folder).
 *
 * @example
 * ```ts
 * const o: BuildSysextOptions = { fromDir: 'ext', name: 'tools', version: '1.2', osId: 'debian', osVersionId: '12', arch: 'x86-64' };
 * ```
 */
export interface BuildSysextOptions {
  /** sysext (default): usr/ and opt/ for systemd-sysext; confext: etc/ for systemd-confext. */
  kind?: ExtensionKind;
  /** The folder holding usr/ (and opt/), or etc/ for a configuration extension. */
  fromDir: string;
  name: string;
  version: string;
  /** Host os-release ID= the extension is for; default "_any". */
  osId?: string;
  sysextLevel?: string;
  /** CONFEXT_LEVEL= the host must have (configuration extensions only). */
  confextLevel?: string;
  /** VERSION_ID= of the host, when SYSEXT_LEVEL= (CONFEXT_LEVEL=) is not used. */
  osVersionId?: string;
  arch?: string;
  fs?: SysextFs;
  format?: SysextFormat;
  /** Output file; default NAME-VERSION-ARCH.raw in the current folder (in `sysupdate.dir` with sysupdate). */
  output?: string;
  /** Also publish into this release folder for systemd-sysupdate. */
  sysupdate?: { dir: string; /** URL or absolute path the node fetches from; default the folder's absolute path. */ source?: string };
  /** Seed for the derived identifiers; default the digest of the tree. */
  seed?: string;
  force?: boolean;
  sourceDateEpoch?: number;
}

/**
 * What {@link buildSysext} wrote: the file, its name parts, size and digest, the DDI's root hash and partitions, the extension-release file.
 *
 * @example
 * ```ts
 * const x: BuildSysextResult = await buildSysext({ fromDir: 'ext', name: 'tools', version: '1' });
 * console.log(x.output, x.bytes, x.sha256, x.rootHash);
 * ```
 */
export interface BuildSysextResult {
  kind: ExtensionKind;
  output: string;
  name: string;
  version: string;
  arch: SysextArch;
  format: SysextFormat;
  fs: SysextFs;
  bytes: number;
  sha256: string;
  /** Hex; only for a DDI (a plain squashfs has no verity). */
  rootHash?: string;
  /** A DDI's root hash file beside it (NAME-V-ARCH.roothash): systemd-sysext enforces verity only with it. */
  roothashFile?: string;
  /** The DDI's partitions (empty for a plain squashfs). */
  partitions: DdiPartition[];
  seed: string;
  extensionRelease: { path: string; text: string };
  sysupdate?: { dir: string; transfer: string; roothashTransfer: string | null; sha256sums: string; source: TransferSource };
}

interface Checked {
  kind: ExtensionKind;
  name: string;
  version: string;
  arch: SysextArch;
  fs: SysextFs;
  format: SysextFormat;
  facts: ExtensionReleaseFacts;
  output: string;
  /** The root hash file beside a DDI; none for a plain squashfs. */
  roothashFile?: string;
  sysupdate?: {
    dir: string;
    source: TransferSource;
    transfers: { path: string; text: string }[];
  };
}

/** Every flag, before any work: usage errors exit 2 and name the flag. */
function checkOptions(o: BuildSysextOptions): Checked {
  const kind = o.kind ?? 'sysext';
  if (kind !== 'sysext' && kind !== 'confext') throw new UsageError(`internal: extension kind "${String(kind)}"`);
  if (kind === 'confext' && o.sysextLevel !== undefined) throw new UsageError('--sysext-level is for system extensions; a configuration extension takes --confext-level');
  if (kind === 'sysext' && o.confextLevel !== undefined) throw new UsageError('--confext-level is for configuration extensions; a system extension takes --sysext-level');
  const name = checkSysextName(o.name);
  const version = checkSysextVersion(o.version);
  const arch = checkSysextArch(o.arch ?? 'x86-64');
  const fs = o.fs ?? 'squashfs';
  const format = o.format ?? 'ddi';
  if (fs !== 'squashfs' && fs !== 'erofs') throw new UsageError(`--fs must be squashfs or erofs, got "${fs}"`);
  if (format !== 'ddi' && format !== 'squashfs') throw new UsageError(`--format must be ddi or squashfs, got "${format}"`);
  if (format === 'squashfs' && fs !== 'squashfs') throw new UsageError('--format squashfs is a plain squashfs image: it cannot go with --fs erofs (use --format ddi)');
  const facts = checkReleaseFacts({ kind, osId: o.osId ?? '_any', level: kind === 'confext' ? o.confextLevel : o.sysextLevel, versionId: o.osVersionId, arch });
  const fileName = sysextFileName(name, version, arch);
  if (o.sysupdate && o.output !== undefined) throw new UsageError('give either -o or --sysupdate: a published image must be named NAME-VERSION-ARCH.raw in the release folder');
  let sysupdate: Checked['sysupdate'];
  if (o.sysupdate) {
    const dir = o.sysupdate.dir;
    const source = transferSource(o.sysupdate.source ?? resolve(dir));
    const transfers = [{ path: join(dir, transferFileName(name)), text: renderTransfer({ name, arch, source, kind }) }];
    if (format === 'ddi') transfers.push({ path: join(dir, roothashTransferFileName(name)), text: renderRoothashTransfer({ name, arch, source, kind }) });
    sysupdate = { dir, source, transfers };
  }
  const output = o.sysupdate ? join(o.sysupdate.dir, fileName) : (o.output ?? fileName);
  const roothashFile = format === 'ddi' ? join(dirname(output), roothashFileName(basename(output))) : undefined;
  return { kind, name, version, arch, fs, format, facts, output, roothashFile, sysupdate };
}

async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Adds (or checks and completes) the extension-release file in the staged copy. */
async function writeExtensionRelease(stage: string, fromDir: string, name: string, facts: ExtensionReleaseFacts): Promise<{ path: string; text: string }> {
  const rel = extensionReleasePath(name, facts.kind);
  const path = join(stage, rel);
  const st = await fsp.lstat(path).catch(() => undefined);
  let text = renderExtensionRelease(facts);
  if (st) {
    if (!st.isFile()) throw new InputError(`${rel} must be a regular file`, { file: fromDir });
    const treeText = await fsp.readFile(path, 'utf8');
    const d = releaseDisagreements(treeText, facts);
    if (d.length) {
      const flag: Record<string, string> = { ID: '--os-id', SYSEXT_LEVEL: '--sysext-level', CONFEXT_LEVEL: '--confext-level', VERSION_ID: '--os-version-id', ARCHITECTURE: '--arch' };
      throw new InputError(`${rel}: ${d.map((x) => `${x.key} is "${x.inTree}" in the tree but ${flag[x.key]} gives "${x.fromFlags}"`).join('; ')}`, { file: fromDir });
    }
    text = mergeExtensionRelease(treeText, facts);
  }
  await fsp.mkdir(dirname(path), { recursive: true, mode: 0o755 });
  await fsp.writeFile(path, text, { mode: 0o644 });
  await fsp.chmod(path, 0o644);
  return { path: rel, text };
}

/** The transfer file may be rewritten freely when it says the same; a different one needs --force. */
async function checkTransferTarget(path: string, text: string, force: boolean): Promise<void> {
  const old = await fsp.readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw fsError(e, path, 'cannot read the transfer file');
  });
  if (old !== undefined && old !== text && !force) {
    throw new InputError('transfer file exists with other contents (use --force to replace it)', { file: path });
  }
}

/** SHA256SUMS of every published file in the release folder (hidden and temporary files aside). */
async function writeSha256Sums(dir: string): Promise<string> {
  const files: { name: string; sha256: string }[] = [];
  for (const entry of await fsp.readdir(dir, { withFileTypes: true })) {
    if (!entry.isFile() || entry.name.startsWith('.') || entry.name === SHA256SUMS) continue;
    files.push({ name: entry.name, sha256: await sha256File(join(dir, entry.name)) });
  }
  const path = join(dir, SHA256SUMS);
  await writeFileAtomic(path, renderSha256Sums(files));
  return path;
}

/** True when the release folder is still to be made; an error when it cannot be (no parent, not a folder). */
async function checkReleaseDir(dir: string): Promise<boolean> {
  const st = await fsp.stat(dir).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw fsError(e, dir, 'cannot use the release folder');
  });
  if (st && !st.isDirectory()) throw new InputError('release folder is not a directory', { file: dir });
  if (st) return false;
  const parent = await fsp.stat(dirname(resolve(dir))).catch(() => undefined);
  if (!parent?.isDirectory()) throw new InputError('the release folder does not exist, nor does the folder it would be made in', { file: dir });
  return true;
}

/**
 * Packs a folder holding `usr/` (and `opt/`) into a system extension for systemd-sysext, with its
 * extension-release file; by default a Discoverable Disk Image whose data is sealed by dm-verity, named
 * `NAME-VERSION-ARCH.raw`. Optionally publishes it into a release folder for systemd-sysupdate.
 *
 * @example
 * ```ts
 * import { buildSysext } from '@imgbuild/core';
 *
 * const x = await buildSysext({ fromDir: 'ext', name: 'tools', version: '1' });
 * console.log(`${x.output}: ${x.format}, root hash ${x.rootHash}`);
 * ```
 */
export async function buildSysext(o: BuildSysextOptions): Promise<BuildSysextResult> {
  const c = checkOptions(o);
  const force = !!o.force;
  const sde = o.sourceDateEpoch ?? sourceDateEpochFromEnv({ fat: false });
  checkSeed(o.seed);
  const newReleaseDir = c.sysupdate ? await checkReleaseDir(c.sysupdate.dir) : false;
  if (c.sysupdate && !newReleaseDir) {
    for (const t of c.sysupdate.transfers) await checkTransferTarget(t.path, t.text, force);
  }
  if (!newReleaseDir) {
    await assertWritableTarget(c.output, force);
    if (c.roothashFile) await assertWritableTarget(c.roothashFile, force);
  }
  await checkSysextTree(o.fromDir, c.kind);
  // The first publication makes its release folder (its parent must exist), once every input is checked.
  if (newReleaseDir) await fsp.mkdir(c.sysupdate!.dir).catch((e) => {
    throw fsError(e, c.sysupdate!.dir, 'cannot make the release folder');
  });

  // Work beside the output: same filesystem (the packed image is renamed, not copied), never /tmp's tmpfs.
  const work = tempPathFor(join(dirname(c.output), `${basename(c.output)}.work`));
  const untrack = trackTemporary(work);
  try {
    await fsp.mkdir(work);
    const stage = join(work, 'tree');
    await stageTree(o.fromDir, stage).catch((e) => {
      throw fsError(e, o.fromDir, 'cannot copy the tree');
    });
    const extensionRelease = await writeExtensionRelease(stage, o.fromDir, c.name, c.facts);
    const seed = o.seed ?? (await treeDigest(stage));
    const fsPath = join(work, `fs.${c.fs}`);
    await packSysextTree(stage, fsPath, { fs: c.fs, sourceDateEpoch: sde, uuid: deriveUuid(seed, 'fs-uuid') }).catch((e) => {
      if (e instanceof ToolError) throw new ToolError(e.message, { file: o.fromDir, cause: e });
      throw e;
    });
    const fsBytes = (await fsp.stat(fsPath)).size;

    const built = await withAtomicOutput(c.output, force, async (tmp) => {
      if (c.format === 'squashfs') {
        await fsp.rename(fsPath, tmp);
        return { partitions: [] as DdiPartition[], rootHash: undefined };
      }
      const d = await writeDdi({
        fsPath,
        fsBytes,
        out: tmp,
        arch: c.arch,
        salt: deriveBytes(seed, 'verity-salt', 32),
        verityUuid: deriveUuid(seed, 'verity-uuid'),
        diskGuid: deriveDiskGuid(seed),
      });
      return { partitions: d.partitions, rootHash: d.rootHash as string | undefined };
    });
    if (c.roothashFile && built.rootHash) await writeFileAtomic(c.roothashFile, `${built.rootHash}\n`);
    const sha256 = await sha256File(c.output);
    const bytes = (await fsp.stat(c.output)).size;

    let sysupdate: BuildSysextResult['sysupdate'];
    if (c.sysupdate) {
      for (const t of c.sysupdate.transfers) await writeFileAtomic(t.path, t.text);
      const sums = await writeSha256Sums(c.sysupdate.dir);
      const [transfer, roothashTransfer] = c.sysupdate.transfers.map((t) => t.path);
      sysupdate = { dir: c.sysupdate.dir, transfer, roothashTransfer: roothashTransfer ?? null, sha256sums: sums, source: c.sysupdate.source };
    }
    return {
      kind: c.kind,
      output: c.output,
      name: c.name,
      version: c.version,
      arch: c.arch,
      format: c.format,
      fs: c.fs,
      bytes,
      sha256,
      ...(built.rootHash ? { rootHash: built.rootHash } : {}),
      ...(c.roothashFile ? { roothashFile: c.roothashFile } : {}),
      partitions: built.partitions,
      seed,
      extensionRelease,
      ...(sysupdate ? { sysupdate } : {}),
    };
  } finally {
    await fsp.rm(work, { recursive: true, force: true });
    untrack();
  }
}

/**
 * A configuration extension (etc/ → systemd-confext): buildSysext's pipeline with the confext target.
 *
 * @example
 * ```ts
 * const r = await buildConfext({ fromDir: 'fleet-etc', name: 'fleet', version: '1' });
 * console.log(r.output, r.rootHash);
 * ```
 */
export function buildConfext(o: Omit<BuildSysextOptions, 'kind' | 'sysextLevel'>): Promise<BuildSysextResult> {
  return buildSysext({ ...o, kind: 'confext' });
}
