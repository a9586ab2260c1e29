/**
 * `verify --feed-manifest`: an image updated on the node by systemd-sysupdate has a host manifest that
 * still describes the slots as built (or as last updated offline). The feed's manifest of each version
 * the node installed (feed/names.ts, FeedVersionManifest) says what that slot and its UKI must now be:
 * the manifest is brought up to date with it in memory (the slot's label, PARTUUID and read-only bit,
 * its verity record, its UKI record, the ESP's file list, the GPT array's masked digest), and every
 * check then runs as usual. Only a slot whose GPT label names a version the given manifests describe
 * is taken over; anything else still has to match the host manifest. The whole-image digest cannot be
 * known in advance for a node's writes, so it is left out (information only anyway).
 */
import { promises as fsp } from 'node:fs';
import { encodeEntries, type GptEntry } from '../gpt/entry.js';
import { attributesHex } from '../gpt/record.js';
import { InputError } from '../errors.js';
import { FEED_FORMAT, type FeedVersionManifest } from '../manifest/feed.js';
import { maskBootBits, rawEntries } from './gpt-raw.js';
import { readBytes } from './digest.js';
import type { Slot } from '../layout/plan.js';
import { isLegacyBoot, sha256Buffer, type ImageManifest } from '../manifest/manifest.js';

const READ_ONLY = 1n << 60n;

export async function readFeedManifest(path: string): Promise<FeedVersionManifest> {
  let j: FeedVersionManifest;
  try {
    j = JSON.parse(await fsp.readFile(path, 'utf8')) as FeedVersionManifest;
  } catch (e) {
    throw new InputError(`cannot read the feed manifest: ${(e as Error).message}`, { file: path });
  }
  if (j.format !== FEED_FORMAT || !j.slot?.label || !j.boot?.uki) throw new InputError(`not a ${FEED_FORMAT} version manifest (imgbuild publish writes <name>_<version>.manifest.json)`, { file: path });
  return j;
}

/** The manifest as it must read after the node installed these versions; `taken` names the slots taken over. */
export async function withFeedVersions(image: string, m: ImageManifest, feeds: FeedVersionManifest[]): Promise<{ manifest: ImageManifest; taken: Array<{ slot: Slot; label: string }> }> {
  if (!m.gpt || isLegacyBoot(m.boot)) throw new InputError('this manifest (version 1) records no GPT or slot UKIs: rebuild the image', { file: image });
  const out = structuredClone(m);
  const boot = out.boot;
  if (isLegacyBoot(boot)) return { manifest: out, taken: [] };
  const geo = m.gpt.primary;
  const ss = m.disk.sectorSize;
  const actual = rawEntries(await readBytes(image, geo.entriesLba * ss, geo.entryCount * geo.entrySize), geo.entrySize);
  const usr = out.partitions.filter((p) => p.role === 'usr-slot').sort((a, b) => a.number - b.number);
  const taken: Array<{ slot: Slot; label: string }> = [];
  usr.forEach((p, i) => {
    const e = actual[p.number - 1];
    if (!e || (e.name === p.label && e.uuid === p.uuid)) return;
    const f = feeds.find((x) => x.slot.label === e.name);
    if (!f) return;
    const s = (Object.entries(out.slots).find(([, r]) => r?.partition === p.number)?.[0] as Slot | undefined) ?? (i === 0 ? 'A' : 'B');
    const oldUki = boot.slots[s]?.uki;
    p.label = f.slot.label;
    p.uuid = f.slot.partuuid;
    p.attributes = attributesHex(BigInt(p.attributes ?? '0') | READ_ONLY);
    out.slots[s] = { ...f.slot, partition: p.number };
    boot.slots[s] = f.boot;
    if (out.esp) {
      const keep = (path: string) => path.toUpperCase() !== oldUki?.toUpperCase() && path.toUpperCase() !== f.boot.uki.toUpperCase();
      out.esp.files = [...out.esp.files.filter((x) => keep(x.path)), { path: f.boot.uki, sha256: f.ukiFile.sha256, bytes: f.ukiFile.bytes }];
    }
    taken.push({ slot: s, label: f.slot.label });
  });
  if (taken.length) {
    // the array as built, with the taken-over entries as the node's install leaves them
    const entries: GptEntry[] = Array.from({ length: geo.entryCount }, () => ({ type: '00000000-0000-0000-0000-000000000000', uuid: '00000000-0000-0000-0000-000000000000', firstLba: 0, lastLba: 0, attributes: 0n, name: '' }));
    for (const p of out.partitions) entries[p.number - 1] = { type: p.type, uuid: p.uuid, firstLba: p.firstLba, lastLba: p.lastLba, attributes: BigInt(p.attributes ?? '0'), name: p.label };
    out.gpt!.entryArraySha256 = sha256Buffer(maskBootBits(encodeEntries(entries, geo.entryCount, geo.entrySize), geo.entrySize, usr.map((p) => p.number)));
    delete out.image.digest;
    out.image.sha256 = null;
  }
  return { manifest: out, taken };
}
