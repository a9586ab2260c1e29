/**
 * A channel's files change atomically: FEED/<channel> is a symlink to a generation folder
 * `.<channel>.<n>`; a publish builds generation n+1 beside it (the files of n hard-linked, the new
 * version's files, a new index, SHA256SUMS and its signature), then swaps the symlink by rename. A
 * reader (sysupdate fetching SHA256SUMS, then SHA256SUMS.gpg, then the files) that started on n keeps
 * reading n: generations are never changed or removed by a publish.
 */
import { promises as fsp } from 'node:fs';
import { basename, join } from 'node:path';
import { InputError } from '../errors.js';
import { syncDir } from '../atomic.js';

export interface Generation {
  /** The folder the symlink points at now, or null for a new channel. */
  current: string | null;
  n: number;
}

export async function currentGeneration(feed: string, channel: string): Promise<Generation> {
  const link = join(feed, channel);
  const st = await fsp.lstat(link).catch(() => null);
  if (!st) return { current: null, n: 0 };
  if (!st.isSymbolicLink()) throw new InputError(`${channel} in the feed is not the symlink imgbuild publish keeps (a folder or file of someone else's?)`, { file: link });
  const target = await fsp.readlink(link);
  const m = new RegExp(`^\\.${channel.replace(/[.]/g, '\\.')}\\.(\\d+)$`).exec(target);
  if (!m) throw new InputError(`${channel} points at ${target}, not a generation folder of imgbuild publish`, { file: link });
  return { current: join(feed, target), n: Number(m[1]) };
}

/** A new generation folder holding hard links to every file of the current one. */
export async function startGeneration(feed: string, channel: string, g: Generation): Promise<string> {
  const dir = join(feed, `.${channel}.${g.n + 1}`);
  const tmp = `${dir}.tmp`;
  await fsp.rm(tmp, { recursive: true, force: true }); // an interrupted publish's (ours, by its name)
  if (await fsp.lstat(dir).catch(() => null)) throw new InputError(`generation ${dir} exists but ${channel} does not point at it; another publish is running, or one was interrupted after its rename: point ${channel} at it or remove it`, { file: dir });
  await fsp.mkdir(tmp);
  if (g.current) for (const f of await fsp.readdir(g.current)) await fsp.link(join(g.current, f), join(tmp, f));
  return tmp;
}

/**
 * Makes the finished generation current: every file's data on disk, then rename the folder, then swap
 * the symlink by rename. Without the files' fsync a power cut on the publishing host after the renames
 * could leave the live channel pointing at a torn payload under a valid signature.
 */
export async function commitGeneration(feed: string, channel: string, tmp: string): Promise<string> {
  const dir = tmp.replace(/\.tmp$/, '');
  await syncFiles(tmp);
  await syncDir(tmp);
  await fsp.rename(tmp, dir);
  const link = join(feed, channel);
  const linkTmp = join(feed, `.${channel}.link.tmp`);
  await fsp.rm(linkTmp, { force: true });
  await fsp.symlink(basename(dir), linkTmp);
  await fsp.rename(linkTmp, link);
  await syncDir(feed);
  return dir;
}

/** fsync of every file in `dir` (hard links to an older generation's files cost nothing: already on disk). */
async function syncFiles(dir: string): Promise<void> {
  for (const f of await fsp.readdir(dir, { withFileTypes: true })) {
    if (!f.isFile()) continue;
    const fh = await fsp.open(join(dir, f.name), 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  }
}
