/**
 * `imgbuild verity format` and `imgbuild verity-verify`: thin wrappers over formatVerity/verifyVerity.
 * Bad flags are UsageError (exit 2); unusable inputs and failed verification exit 1 with one line
 * naming the file.
 */
import { existsSync, statSync } from 'node:fs';
// Module paths, not the package index, which would load the whole library (zod, the image builder)
// into a command that hashes: see packages/cli/scripts/bundle.mjs.
// The GPT reader, the slot rules and the qcow2 bundle code serve --slot only: loaded when it is given.
import { InputError, UsageError, VerityMismatchError } from '@imgbuild/core/errors';
import { checkSeed, deriveBytes, deriveUuid } from '@imgbuild/core/guid';
import { DEFAULT_VERITY_PARAMS, formatVerity, slotHashOffset, verifyVerity, type FormatVerityResult, type VerityHash, type VerityParams } from '@imgbuild/core/verity/index';
import { checkImageArg } from '../args.js';
import { EXIT_FAILED, printJson, progressBar } from '../output.js';

/** Integer flags arrive parsed and range-checked (parse.ts). */
interface TreeFlags {
  hash?: string;
  format?: string;
  dataBlockSize?: number;
  hashBlockSize?: number;
  superblock?: boolean;
  salt?: string;
  dataBlocks?: number;
  hashOffset?: number;
  jobs?: number;
  json?: boolean;
}

interface FormatFlags extends TreeFlags {
  dataOffset?: number;
  seed?: string;
  uuid?: string;
  pad?: boolean;
  force?: boolean;
}

interface VerifyFlags extends TreeFlags {
  rootHash: string;
  hashFile?: string;
  slot?: string;
}

function salt(v: string | undefined): Buffer | null | undefined {
  if (v === undefined) return undefined;
  if (v === '-') return null;
  if (!/^([0-9a-fA-F]{2})*$/.test(v) || v.length === 0) throw new UsageError(`--salt must be hex (an even number of digits) or -, got "${v}"`);
  return Buffer.from(v, 'hex');
}

function params(f: TreeFlags): VerityParams {
  const hash = f.hash ?? DEFAULT_VERITY_PARAMS.hash;
  if (!['sha256', 'sha512', 'sha1'].includes(hash)) throw new UsageError(`--hash must be sha256, sha512 or sha1, got "${hash}"`);
  if (f.format !== undefined && f.format !== '0' && f.format !== '1') throw new UsageError(`--format must be 0 or 1, got "${f.format}"`);
  return {
    hash: hash as VerityHash,
    hashType: f.format === '0' ? 0 : 1,
    dataBlockSize: f.dataBlockSize ?? DEFAULT_VERITY_PARAMS.dataBlockSize,
    hashBlockSize: f.hashBlockSize ?? DEFAULT_VERITY_PARAMS.hashBlockSize,
    superblock: f.superblock !== false,
  };
}

/** A progress bar only for inputs that take a noticeable time (and only on a TTY, without --json). */
function bar(data: string, json: boolean | undefined) {
  let size = 0;
  try {
    size = statSync(data).size;
  } catch {
    // the library reports the unreadable file
  }
  return progressBar(!json && size >= 256 * 2 ** 20);
}

/**
 * One JSON shape for a hash tree, the same keys in `verity format` and `verity-verify`: where the data
 * and the tree are, then the tree's parameters. `salt` is null for none (veritysetup's `-`), `uuid`
 * null without a superblock.
 */
function treeJson(files: { dataFile: string; hashFile: string; dataOffset: number; hashOffset: number }, r: Omit<FormatVerityResult, 'params'> & { params: VerityParams }) {
  return {
    ...files,
    rootHash: r.rootHash,
    hash: r.params.hash,
    hashType: r.params.hashType,
    dataBlockSize: r.params.dataBlockSize,
    hashBlockSize: r.params.hashBlockSize,
    dataBlocks: r.dataBlocks,
    salt: r.salt === '' ? null : r.salt,
    uuid: r.uuid ?? null,
    superblock: r.params.superblock,
    hashAreaSize: r.hashAreaSize,
  };
}

export async function format(data: string, hashfile: string | undefined, opts: FormatFlags): Promise<void> {
  const p = params(opts);
  let s = salt(opts.salt);
  let uuid = opts.uuid;
  checkSeed(opts.seed);
  if (opts.seed !== undefined) {
    // systemd-repart's derivation: salt = HMAC-SHA256(seed, "verity-salt").
    if (s === undefined) s = deriveBytes(opts.seed, 'verity-salt', 32);
    uuid ??= deriveUuid(opts.seed, 'verity-uuid');
  }
  if (hashfile !== undefined && !opts.force && existsSync(hashfile)) {
    throw new InputError('hash file exists (use --force to write the hash area into it)', { file: hashfile });
  }
  const progress = bar(data, opts.json);
  let r;
  try {
    r = await formatVerity({
      dataPath: data,
      dataOffset: opts.dataOffset,
      dataBlocks: opts.dataBlocks,
      hashPath: hashfile ?? data,
      hashOffset: opts.hashOffset,
      params: p,
      salt: s,
      uuid,
      pad: !!opts.pad,
      writeIntoData: !!opts.force,
      jobs: opts.jobs,
      onProgress: progress,
    });
  } finally {
    progress.finish();
  }
  const out = treeJson({ dataFile: data, hashFile: hashfile ?? data, dataOffset: opts.dataOffset ?? 0, hashOffset: r.hashOffset }, r);
  if (opts.json) return printJson(out);
  process.stdout.write(
    [
      `Root hash:       ${out.rootHash}`,
      `Salt:            ${out.salt ?? '-'}`,
      ...(out.uuid ? [`UUID:            ${out.uuid}`] : []),
      `Hash type:       ${out.hashType}`,
      `Hash algorithm:  ${out.hash}`,
      `Data blocks:     ${out.dataBlocks}`,
      `Data block size: ${out.dataBlockSize}`,
      `Hash block size: ${out.hashBlockSize}`,
      `Hash offset:     ${out.hashOffset}`,
      `Hash area size:  ${out.hashAreaSize}`,
    ].join('\n') + '\n',
  );
}

/** Where the slot partition's data and hash area are in a disk image (Flatcar: hash at a fixed offset). */
async function slotRange(image: string, name: string, relHashOffset: number | undefined): Promise<{ dataOffset: number; hashOffset: number; partition: number }> {
  const [{ FileStorage }, { readGpt }, { resolveSlot, slotBytes }] = await Promise.all([
    import('@imgbuild/core/storage'),
    import('@imgbuild/core/gpt/io'),
    import('@imgbuild/core/slot/state'),
  ]);
  const s = await FileStorage.open(image);
  try {
    const { table } = await readGpt(s);
    const { number, offsetBytes, sizeBytes } = slotBytes(table, resolveSlot(table, name));
    const rel = relHashOffset ?? slotHashOffset(sizeBytes);
    if (rel >= sizeBytes) throw new UsageError(`--hash-offset ${rel} is beyond the end of partition ${number} (${sizeBytes} bytes)`);
    return { dataOffset: offsetBytes, hashOffset: offsetBytes + rel, partition: number };
  } finally {
    await s.close();
  }
}

export async function verify(data: string, opts: VerifyFlags): Promise<number | void> {
  const p = params(opts);
  const relOffset = opts.hashOffset;
  if (opts.slot !== undefined && opts.hashFile !== undefined) throw new UsageError('--slot and --hash-file exclude each other');
  if (opts.slot === undefined && opts.hashFile === undefined && relOffset === undefined) {
    throw new UsageError('say where the hash area is: --hash-file, --hash-offset or --slot');
  }
  if (!p.superblock && opts.salt === undefined) throw new UsageError('--no-superblock needs --salt (- for none)');
  await checkImageArg(data, { bundle: opts.slot !== undefined });
  // With --slot, a qemu_uefi bundle folder is read through a raw copy of its qcow2.
  if (opts.slot !== undefined) {
    const { withRawImage } = await import('@imgbuild/core/qemu/bundle');
    return withRawImage(data, false, (raw) => verifyOn(data, raw, p, relOffset, opts));
  }
  return verifyOn(data, data, p, relOffset, opts);
}

async function verifyOn(data: string, raw: string, p: VerityParams, relOffset: number | undefined, opts: VerifyFlags): Promise<number | void> {
  const where = opts.slot !== undefined ? await slotRange(raw, opts.slot, relOffset) : { dataOffset: 0, hashOffset: relOffset ?? 0, partition: undefined };
  const progress = bar(raw, opts.json);
  let r;
  try {
    r = await verifyVerity({
      dataPath: raw,
      dataOffset: where.dataOffset,
      hashPath: opts.hashFile ?? raw,
      hashOffset: where.hashOffset,
      rootHash: opts.rootHash,
      // With a superblock it is the authority; the flags only describe a tree without one.
      ...(p.superblock ? {} : { params: p, salt: salt(opts.salt), dataBlocks: opts.dataBlocks }),
      ...(p.superblock && opts.dataBlocks !== undefined ? { dataBlocks: opts.dataBlocks } : {}),
      jobs: opts.jobs,
      onProgress: progress,
    });
  } finally {
    progress.finish();
  }
  const what = where.partition !== undefined ? `partition ${where.partition}: ` : '';
  if (opts.json) {
    const files = { dataFile: data, hashFile: opts.hashFile ?? data, dataOffset: where.dataOffset, hashOffset: where.hashOffset };
    // The same keys either way: a failure has no tree to describe (null, and the root hash that was
    // expected), a success no place where it failed.
    const noTree = { ...files, rootHash: opts.rootHash, hash: null, hashType: null, dataBlockSize: null, hashBlockSize: null, dataBlocks: null, salt: null, uuid: null, superblock: null, hashAreaSize: null };
    const failure = r.ok ? { region: null, level: null, index: null, message: null } : { region: r.region, level: r.level ?? null, index: r.index ?? null, message: r.message };
    printJson({ ok: r.ok, partition: where.partition ?? null, ...(r.ok ? treeJson(files, r) : noTree), ...failure });
    return r.ok ? undefined : EXIT_FAILED;
  }
  if (!r.ok) throw new VerityMismatchError(`${what}verification failed (${r.region}): ${r.message}`, { file: data });
  process.stdout.write(`${data}: ${what}verified: root hash ${r.rootHash}, ${r.dataBlocks} data blocks of ${r.params.dataBlockSize} bytes\n`);
}
