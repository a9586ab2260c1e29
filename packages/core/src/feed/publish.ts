/**
 * `imgbuild publish`: one version of /usr into a channel of an update feed that a static HTTP server
 * serves and systemd-sysupdate reads (feed/names.ts for the files, feed/channel.ts for atomicity).
 *
 * The feed serves the nodes running a base image (`--base`, an image with versioned slots): from it
 * come the slot size (so the hash offset), the slot naming, the ROOT and the extra command line
 * arguments, and, unless given, the kernel and initrd, exactly as `imgbuild update` takes them from
 * the running slot. The payload and UKI are decided by the code `update` uses (image/slot-writer.ts:
 * slotPayload streams the bytes writeUsrToSlot writes, with versionedSuperblockUuid; versionedSlotBoot,
 * slotUki), so an offline update and an on-node update of the same version write the same /usr bytes,
 * root hash and UKI.
 */
import { createWriteStream, promises as fsp } from 'node:fs';
import { createHash } from 'node:crypto';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform, type TransformOptions } from 'node:stream';
import { createGzip, type ZlibOptions } from 'node:zlib';
import { readEspFile, readUki } from '../boot/index.js';
import { parseCmdline } from '../boot/cmdline.js';
import { InputError, SlotError, UsageError } from '../errors.js';
import { namingOfLabel, versionedLabel, versionedUkiPath } from '../layout/versioned.js';
import { findEsp } from '../layout/roles.js';
import { readSlotStatus } from '../slot/index.js';
import { pcr11Entry } from '../attest/pcr.js';
import { readBootInput, readKernel, readUkiStub, slotUki } from '../boot/inputs.js';
import { isLegacyBoot, manifestArchitecture, manifestPathFor, readManifest, sha256Buffer, sha256File } from '../manifest/manifest.js';
import { slotManifestEntry, slotPayload, versionedSuperblockUuid } from '../image/slot-writer.js';
import { probeUsrImage, usrVersion } from '../fs/usr-image.js';
import { versionedSlotBoot } from '../image/versioned-slot.js';
import type { ProgressFn } from '../progress.js';
import { commitGeneration, currentGeneration, startGeneration } from './channel.js';
import { checkGpgKey, gpgDetachSign, type GpgSigner } from './gpg.js';
import { FEED_FORMAT, INDEX, isChannelName, manifestName, payloadName, SUMS, SUMS_SIG, ukiName, type FeedIndex, type FeedVersionManifest } from '../manifest/feed.js';

/**
 * What {@link publishVersion} publishes: one version of the /usr, into one channel of a feed.
 *
 * @example
 * ```ts
 * const o: PublishOptions = { feed: 'feed', channel: 'stable', base: 'disk.raw', from: 'usr-v2.squashfs', gpg: { key: 'releases@example.com' } };
 * ```
 */
export interface PublishOptions {
  /** The feed folder (created when missing); FEED/<channel> is what the HTTP server serves. */
  feed: string;
  channel: string;
  /** The image the nodes run (raw, with its manifest): layout, ROOT, command line, default kernel/initrd. */
  base: string;
  /** The /usr image of the version; its IMAGE_VERSION (or VERSION_ID) is the version. */
  from: string;
  kernel?: string;
  initrd?: string;
  ukiStub?: string;
  gpg: GpgSigner;
  jobs?: number;
  onProgress?: ProgressFn;
}

/**
 * What {@link publishVersion} wrote: the version, its slot label and root hash, the files.
 *
 * @example
 * ```ts
 * const r: PublishResult = await publishVersion({ feed: 'feed', channel: 'stable', base: 'disk.raw', from: 'usr-v2.squashfs', gpg: { key: 'releases@example.com' } });
 * console.log(r.version, r.label, r.files.payload, r.payloadBytes);
 * ```
 */
export interface PublishResult {
  channel: string;
  version: string;
  label: string;
  rootHash: string;
  partuuid: string;
  /** The generation folder now current, and the files of this version in it. */
  generation: string;
  files: { payload: string; uki: string; manifest: string };
  payloadBytes: number;
  payloadUncompressedBytes: number;
  keyFingerprint: string;
  durationMs: number;
}

/**
 * Publishes one version for nodes that update themselves with systemd-sysupdate: the slot payload
 * (exactly what `updateImage` writes into the slot, gzip'd), the version's UKI, its manifest, the
 * channel's index, SHA256SUMS and its gpg signature. A version already in the channel is refused; the
 * channel changes atomically (a new generation, then a rename).
 *
 * @example
 * ```ts
 * await publishVersion({ feed: '/srv/feed', channel: 'stable', base: 'disk.raw', from: 'usr-v2.squashfs', gpg: { key: 'releases@example.com', homedir: '/etc/imgbuild/gnupg' } });
 * ```
 */
export async function publishVersion(o: PublishOptions): Promise<PublishResult> {
  const t0 = Date.now();
  if (!isChannelName(o.channel)) throw new UsageError(`--channel ${JSON.stringify(o.channel)}: letters, digits and . _ - only`);
  const manifest = await readManifest(manifestPathFor(o.base));
  if (isLegacyBoot(manifest.boot)) throw new InputError('the base image was built before the slot selector; rebuild it', { file: o.base });
  if (manifest.boot.signing) throw new InputError('the base image is signed for Secure Boot; publishing signed UKIs is not supported yet', { file: o.base });
  const arch = manifestArchitecture(manifest);
  const { table, status } = await readSlotStatus(o.base, { file: o.base });
  const running = status.slots.find((s) => s.slot === status.next);
  if (!running) throw new SlotError('no slot of the base image can boot; it says nothing about what its nodes run', { file: o.base });
  const naming = running.versioned ? namingOfLabel(running.label) : null;
  if (!naming) throw new InputError(`the base image's slots are not named by version (slot ${running.slot} is ${running.label}); sysupdate needs <name>_<version> labels: build it with --layout sysupdate`, { file: o.base });
  const esp = findEsp(manifest.partitions, o.base);
  if (!esp) throw new InputError('the base image has no ESP', { file: o.base });

  // Every input is read and checked before the feed changes.
  const usr = await probeUsrImage(o.from);
  const version = await usrVersion(o.from, usr.fsType);
  const label = versionedLabel(naming, version, o.from);
  const v = label.slice(naming.name.length + 1);
  const runningUki = readUki(await readEspFile(o.base, esp.firstLba * table.sectorSize, versionedUkiPath(running.label)));
  const kernel = o.kernel ? await readKernel(o.kernel, arch) : runningUki.kernel;
  const initrd = o.initrd ? await readBootInput(o.initrd, 'initrd') : runningUki.initrd;
  const inputs = { kernel, initrd, stub: await readUkiStub(o.ukiStub, arch), osRelease: runningUki.osRelease ?? '', arch };
  const cmd = parseCmdline(runningUki.cmdline);
  const slotSize = (running.lastLba - running.firstLba + 1) * table.sectorSize;
  const keyFingerprint = await checkGpgKey(o.gpg);

  await fsp.mkdir(o.feed, { recursive: true });
  const gen = await currentGeneration(o.feed, o.channel);
  const oldIndex = gen.current ? await readIndex(join(gen.current, INDEX)) : null;
  if (oldIndex && oldIndex.name !== naming.name) throw new InputError(`channel ${o.channel} carries ${oldIndex.name}_<version>, not ${naming.name}_<version>`, { file: o.feed });
  if (oldIndex?.versions.some((e) => e.version === v)) throw new InputError(`version ${v} is already published in channel ${o.channel}; publish another version`, { file: o.feed });

  const tmp = await startGeneration(o.feed, o.channel, gen);
  try {
    // The slot's bytes, as update writes them into a partition of this size (data from byte 0, the
    // verity superblock and tree at the layout's hash offset, zeros between), gzip'd as they are made.
    const scratch = join(tmp, '.payload.hash');
    const payload = slotPayload({
      partition: { label, sizeBytes: slotSize },
      usrPath: o.from,
      usrBytes: usr.bytes,
      superblockUuid: versionedSuperblockUuid,
      jobs: o.jobs,
      scratch,
    });
    const packed = join(tmp, '.payload.gz');
    // Failed, the tree is let finish before the generation folder goes (its threads write into it).
    const z = await gzipStream(payload.chunks, payload.bytes, packed, o.onProgress).catch(async (e) => {
      await payload.sealed.catch(() => {});
      throw e;
    });
    const w = await payload.sealed;
    await fsp.rm(scratch);
    const uncompressedBytes = z.inputBytes;
    const boot = versionedSlotBoot({ naming, version, slot: running.slot, rootHash: w.rootHash, hashOffset: w.hashOffset, fsType: usr.fsType, rootPartuuid: cmd.rootPartuuid, extra: cmd.extra, file: o.from });
    const files = { payload: payloadName(label, boot.partuuid), uki: ukiName(label), manifest: manifestName(label) };
    await fsp.rename(packed, join(tmp, files.payload));
    const uki = slotUki(inputs, boot.cmdline, o.kernel ?? o.base);
    await fsp.writeFile(join(tmp, files.uki), uki);

    const slot = slotManifestEntry({ number: 0, label, uuid: boot.partuuid }, w, usr, { name: basename(o.from) }, version);
    const { partition: _n, ...slotRecord } = slot;
    const vm: FeedVersionManifest = {
      format: FEED_FORMAT,
      channel: o.channel,
      version: v,
      slot: slotRecord,
      boot: { uki: boot.ukiPath, sha256: sha256Buffer(uki), cmdline: boot.cmdline, kernelSha256: sha256Buffer(kernel), initrdSha256: sha256Buffer(initrd), ...pcr11Entry(uki) },
      payload: { file: files.payload, sha256: z.sha256, bytes: z.bytes, compression: 'gzip', uncompressedBytes, uncompressedSha256: z.inputSha256 },
      ukiFile: { file: files.uki, sha256: sha256Buffer(uki), bytes: uki.length },
    };
    await fsp.writeFile(join(tmp, files.manifest), JSON.stringify(vm, null, 2) + '\n');
    const index: FeedIndex = {
      format: FEED_FORMAT,
      channel: o.channel,
      name: naming.name,
      versions: [...(oldIndex?.versions ?? []), { version: v, label, rootHash: w.rootHash, partuuid: boot.partuuid, ...files }],
    };
    await fsp.rm(join(tmp, INDEX), { force: true }); // a hard link to the old generation's: never write through it
    await fsp.writeFile(join(tmp, INDEX), JSON.stringify(index, null, 2) + '\n');
    await writeSums(tmp);
    await fsp.rm(join(tmp, SUMS_SIG), { force: true });
    await gpgDetachSign(o.gpg, join(tmp, SUMS), join(tmp, SUMS_SIG));
    const generation = await commitGeneration(o.feed, o.channel, tmp);
    return { channel: o.channel, version: v, label, rootHash: w.rootHash, partuuid: boot.partuuid, generation, files, payloadBytes: z.bytes, payloadUncompressedBytes: uncompressedBytes, keyFingerprint, durationMs: Date.now() - t0 };
  } catch (e) {
    await fsp.rm(tmp, { recursive: true, force: true });
    throw e;
  }
}

export async function readIndex(path: string): Promise<FeedIndex> {
  let j: FeedIndex;
  try {
    j = JSON.parse(await fsp.readFile(path, 'utf8')) as FeedIndex;
  } catch (e) {
    throw new InputError(`cannot read the channel index: ${(e as Error).message}`, { file: path });
  }
  if (j.format !== FEED_FORMAT || !Array.isArray(j.versions)) throw new InputError(`not an ${FEED_FORMAT} index`, { file: path });
  return j;
}

/** SHA256SUMS in sha256sum's format over every file of the generation but itself and its signature. */
async function writeSums(dir: string): Promise<void> {
  const names = (await fsp.readdir(dir)).filter((f) => f !== SUMS && f !== SUMS_SIG && !f.startsWith('.')).sort();
  const lines = [];
  for (const f of names) lines.push(`${await sha256File(join(dir, f))}  ${f}\n`);
  await fsp.rm(join(dir, SUMS), { force: true });
  await fsp.writeFile(join(dir, SUMS), lines.join(''));
}

/** gzip (what systemd 254 decompresses) of `chunks` into `dst`, with the sha256 of what went in and of what came out. */
async function gzipStream(chunks: AsyncIterable<Buffer>, total: number, dst: string, onProgress?: ProgressFn): Promise<{ bytes: number; sha256: string; inputBytes: number; inputSha256: string }> {
  const hin = createHash('sha256');
  const hout = createHash('sha256');
  let done = 0;
  let bytes = 0;
  async function* tapIn(): AsyncGenerator<Buffer> {
    for await (const chunk of chunks) {
      hin.update(chunk);
      done += chunk.length;
      onProgress?.(done, total, 'gzip payload');
      yield chunk;
    }
  }
  const tapOut = new Transform({
    transform(chunk: Buffer, _e, cb) {
      hout.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  // level 1: the /usr is compressed already; the zeros before the hash area shrink at any level.
  // Several input chunks queued (so the next one is read and hashed while zlib packs this one) and
  // 1 MiB out (not 16 KiB: 64 times fewer trips through tapOut): the same bytes either way.
  // (node's zlib hands stream options on to its Transform; ZlibOptions does not list them.)
  const options: ZlibOptions & TransformOptions = { level: 1, chunkSize: 1 << 20, writableHighWaterMark: 8 << 20 };
  await pipeline(tapIn(), createGzip(options), tapOut, createWriteStream(dst));
  return { bytes, sha256: hout.digest('hex'), inputBytes: done, inputSha256: hin.digest('hex') };
}
