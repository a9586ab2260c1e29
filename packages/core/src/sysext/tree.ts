/**
 * The extension's file tree: what may be in it, a private copy to add the extension-release file to
 * (the user's folder is never changed), and a digest of the copy that seeds every derived identifier.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import fse from 'fs-extra';
import { fsError, InputError } from '../errors.js';
import { extensionTarget, type ExtensionKind } from './kind.js';

/**
 * Top-level folders systemd-sysext merges: /usr and /opt (systemd-confext: /etc; kind.ts). Anything
 * else in an extension is silently not merged, which is always a packaging mistake, so it is refused.
 */
export const SYSEXT_HIERARCHIES = extensionTarget('sysext').hierarchies;

/** Refuses a tree with anything but the merged hierarchies at its top, or one of them not a real folder. */
export async function checkSysextTree(dir: string, kind: ExtensionKind = 'sysext'): Promise<void> {
  const t = extensionTarget(kind);
  const st = await fsp.stat(dir).catch((e) => {
    throw fsError(e, dir, 'cannot read the tree');
  });
  if (!st.isDirectory()) throw new InputError(`not a directory (give the folder that holds ${t.hierarchies[0]}/)`, { file: dir });
  for (const entry of (await fsp.readdir(dir)).sort()) {
    const path = join(dir, entry);
    if (!t.hierarchies.includes(entry)) {
      throw new InputError(`${entry} is outside ${t.hierarchies.map((h) => `${h}/`).join(' and ')}: ${t.tool} merges only ${t.hierarchies.length > 1 ? 'those' : 'that'} (move it under ${t.hierarchies[0]}/)`, { file: dir });
    }
    const lst = await fsp.lstat(path);
    if (!lst.isDirectory()) throw new InputError(`${entry} must be a folder, not ${lst.isSymbolicLink() ? 'a symlink' : 'a file'}`, { file: dir });
  }
}

/** Copies the tree (symlinks as symlinks, modes kept) into `stage`, which must not exist. */
export async function stageTree(dir: string, stage: string): Promise<void> {
  await fse.copy(dir, stage, { dereference: false, preserveTimestamps: false, errorOnExist: true });
}

/**
 * sha256 over every entry's path, kind, permission bits and content (or link target), in sorted
 * order: what the filesystem will hold, owners and times aside (those are fixed by the packers).
 */
export async function treeDigest(dir: string): Promise<string> {
  const h = createHash('sha256');
  async function walk(rel: string): Promise<void> {
    for (const name of (await fsp.readdir(join(dir, rel))).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const p = join(dir, r);
      const st = await fsp.lstat(p);
      const mode = (st.mode & 0o7777).toString(8);
      if (st.isSymbolicLink()) h.update(`l ${r} ${mode} ${await fsp.readlink(p)}\0`);
      else if (st.isDirectory()) {
        h.update(`d ${r} ${mode}\0`);
        await walk(r);
      } else if (st.isFile()) {
        const c = createHash('sha256');
        for await (const chunk of fse.createReadStream(p)) c.update(chunk as Buffer);
        h.update(`f ${r} ${mode} ${st.size} ${c.digest('hex')}\0`);
      } else h.update(`o ${r} ${mode} ${st.rdev}\0`);
    }
  }
  await walk('');
  return h.digest('hex');
}
