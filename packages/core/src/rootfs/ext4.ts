/**
 * The writable ROOT partition of a usr-merged OS, made at build time from a tree (its /etc, /var,
 * the /bin /sbin /lib /lib64 links and an empty /usr mount point): `mkfs.ext4 -d` writes the
 * filesystem straight into the image file at the partition's byte offset (`-E offset=`; no loop
 * device, no mount), so the partition's size is the filesystem's size.
 *
 * Reproducible: the filesystem UUID and the directory hash seed come from the image seed, every
 * timestamp mke2fs makes is E2FSPROGS_FAKE_TIME, and the inode tables and journal are written out now
 * (no lazy init, whose state differs by machine). mke2fs copies each file's times from the tree,
 * ctime (which no tool can set on the tree) and atime (which reading the tree changes) too, so debugfs
 * then sets every inode's times to SOURCE_DATE_EPOCH, as mksquashfs -all-time does for /usr. The order
 * in which the tree was created does not matter (tested).
 */
import { promises as fsp } from 'node:fs';
import { join, relative } from 'node:path';
import { execa } from '../exec.js';
import { InputError, ToolError } from '../errors.js';
import { deriveUuid } from '../guid.js';

export interface RootFsOptions {
  imagePath: string;
  offsetBytes: number;
  sizeBytes: number;
  tree: string;
  seed: string;
  sourceDateEpoch: number;
  label?: string;
}

export interface RootFsResult {
  fsUuid: string;
  blocks: number;
}

const BLOCK = 4096;

/** The filesystem UUID a build with this seed gives its ROOT (what `root=UUID=` would name). */
export function rootFsUuid(seed: string): string {
  return deriveUuid(seed, 'imgbuild root ext4 uuid');
}

export async function checkRootTree(tree: string): Promise<void> {
  const st = await fsp.stat(tree).catch(() => undefined);
  if (!st?.isDirectory()) throw new InputError('the root tree is not a directory', { file: tree });
  const usr = await fsp.lstat(join(tree, 'usr')).catch(() => undefined);
  if (!usr?.isDirectory()) throw new InputError('the root tree needs an (empty) usr/ folder: the verified /usr is mounted there', { file: tree });
  if ((await fsp.readdir(join(tree, 'usr'))).length) {
    throw new InputError('usr/ in the root tree must be empty: /usr comes from the verified slot, anything here would be hidden by it', { file: tree });
  }
}

export async function writeRootFs(o: RootFsOptions): Promise<RootFsResult> {
  await checkRootTree(o.tree);
  if (o.offsetBytes % BLOCK || o.sizeBytes % BLOCK) throw new InputError(`ROOT partition is not 4 KiB aligned (offset ${o.offsetBytes}, size ${o.sizeBytes})`, { file: o.imagePath });
  const fsUuid = rootFsUuid(o.seed);
  const hashSeed = deriveUuid(o.seed, 'imgbuild root ext4 hash_seed');
  const blocks = o.sizeBytes / BLOCK;
  const env = { ...process.env, E2FSPROGS_FAKE_TIME: String(o.sourceDateEpoch), SOURCE_DATE_EPOCH: String(o.sourceDateEpoch) };
  const mk = await execa(
    'mkfs.ext4',
    [
      '-q', '-F', '-t', 'ext4', '-b', String(BLOCK), '-L', o.label ?? 'ROOT', '-U', fsUuid,
      '-E', `offset=${o.offsetBytes},hash_seed=${hashSeed},nodiscard,lazy_itable_init=0,lazy_journal_init=0,root_owner=0:0`,
      '-d', o.tree,
      o.imagePath, String(blocks),
    ],
    { reject: false, env },
  );
  if (mk.exitCode !== 0) {
    const why = String(mk.stderr || mk.stdout).trim().split('\n').pop() ?? '';
    if ((mk as { code?: string }).code === 'ENOENT') throw new ToolError('mkfs.ext4 not found (install e2fsprogs, or run hack/install-deps.sh)');
    throw new ToolError(`mkfs.ext4 -d ${o.tree} failed: ${why}`, { file: o.imagePath });
  }
  const cmds = [];
  for (const p of ['', ...(await walk(o.tree))]) {
    const quoted = `"/${p.replace(/(["\\])/g, '\\$1')}"`;
    for (const field of ['atime', 'ctime', 'mtime', 'crtime']) cmds.push(`sif ${quoted} ${field} @${o.sourceDateEpoch}`);
  }
  const cmdFile = `${o.imagePath}.debugfs`;
  await fsp.writeFile(cmdFile, cmds.join('\n') + '\n');
  try {
    const dbg = await execa('debugfs', ['-w', '-f', cmdFile, `${o.imagePath}?offset=${o.offsetBytes}`], { reject: false, env });
    const errors = String(dbg.stderr).split('\n').filter((l) => l.trim() && !/^debugfs \d/.test(l));
    if (dbg.exitCode !== 0 || errors.length) throw new ToolError(`debugfs (setting ctimes on ROOT) failed: ${errors[0] ?? `exit ${dbg.exitCode}`}`, { file: o.imagePath });
  } finally {
    await fsp.rm(cmdFile, { force: true });
  }
  return { fsUuid, blocks };
}

/** Every path under `dir`, relative, sorted; symlinks are not followed. */
async function walk(dir: string): Promise<string[]> {
  const out: string[] = [];
  const visit = async (d: string) => {
    for (const e of await fsp.readdir(d, { withFileTypes: true })) {
      const full = join(d, e.name);
      out.push(relative(dir, full));
      if (e.isDirectory()) await visit(full);
    }
  };
  await visit(dir);
  return out.sort();
}
