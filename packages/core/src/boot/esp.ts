/**
 * The EFI System Partition, written inside a disk image file at a byte offset: no loop devices, no
 * mounts. Formatting is `mkfs.vfat`, file operations are mtools (mmd, mcopy, mdir), all through execa.
 *
 * Reproducibility (the same inputs give the same bytes, whenever and wherever they run):
 * - The ESP's byte range is zeroed first (only the 1 MiB chunks that are not already zero are
 *   written, so a sparse image stays sparse), so old data in free clusters cannot leak through.
 * - `mkfs.vfat --invariant` comes BEFORE `-i <id>`: --invariant also sets the volume id (0x1234ABCD)
 *   and, given after -i, silently overrides it. `-h <offset sectors>` records the partition start as
 *   hidden sectors, `--mbr=n` keeps a fake MBR out of the boot sector.
 * - Files are staged in a temp folder with mtime = sourceDateEpoch and copied with `mcopy -m`; every
 *   mtools call runs with SOURCE_DATE_EPOCH (mmd otherwise stamps directories with the current time)
 *   and TZ=UTC (FAT times are local times). Directories are made, and files copied, one at a time in
 *   sorted path order, so directory entry order never depends on readdir order.
 * - FAT times have a 2-second resolution; an odd sourceDateEpoch is rounded down the same way each run.
 *
 * The label defaults to 'EFI-SYSTEM' (10 characters, so it fits FAT's 11 without truncation); labels
 * are restricted to A-Z 0-9 space _ - (uppercase only: FAT stores labels in upper case).
 * The ESP must be at least ESP_MIN_BYTES (33 MiB): below ~32.5 MiB FAT32 cannot have its minimum of
 * 65525 clusters even with 512-byte clusters, and firmware (and mtools) would read it as FAT16. The
 * cluster size is chosen by sectorsPerCluster(), not left to mkfs.vfat (see there).
 *
 * Paths are relative, '/'-separated printable ASCII (e.g. ESP_BOOT_PATH); FAT is case-insensitive, so
 * two paths that differ only in case are refused. `replaceEspFiles` writes a replaced file in full
 * under a side name, then deletes the old entry and renames the new one into its place: FAT has no
 * atomic replace, but a crash can now lose the file only between those two directory updates.
 */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execa } from '../exec.js';
import { fsError, InputError, ToolError } from '../errors.js';
import { FAT_FIRST_EPOCH, FAT_LAST_EPOCH } from '../repro.js';
import { checkPath, mkfsBlockCount, SECTOR, sectorsPerCluster } from './esp-geometry.js';

export const ESP_BOOT_PATH = 'EFI/BOOT/BOOTX64.EFI';
export const ESP_DEFAULT_LABEL = 'EFI-SYSTEM';
export const ESP_MIN_BYTES = 33 * 1024 * 1024;
/** Side name a replaced file is written under before it takes the old one's place. */
export const ESP_REPLACE_SUFFIX = '.imgbuild-new';

export interface EspFile {
  /** Relative path inside the ESP, e.g. 'EFI/BOOT/BOOTX64.EFI'. */
  path: string;
  data: Buffer;
}

export interface MakeEspOptions {
  /** Disk image file; it must already be at least offsetBytes + sizeBytes long. */
  image: string;
  /** Start of the ESP in the image (multiple of 512). */
  offsetBytes: number;
  /** Size of the ESP (multiple of 512, ≥ ESP_MIN_BYTES); a trailing odd 512-byte sector stays unused. */
  sizeBytes: number;
  /** FAT volume serial number (32-bit), e.g. from espVolumeId(seed). */
  volumeId: number;
  /** Volume label, ≤ 11 characters of A-Z 0-9 space _ -. Default ESP_DEFAULT_LABEL. */
  label?: string;
  files: EspFile[];
  /** Timestamp (seconds since the epoch) given to every file and directory. */
  sourceDateEpoch: number;
  /** The caller guarantees the range is all zero already (a freshly created sparse image): skip zeroing. */
  rangeIsZero?: boolean;
}

export interface EspEntry {
  /** Relative path, e.g. 'EFI/BOOT' or 'EFI/BOOT/BOOTX64.EFI'. */
  path: string;
  kind: 'file' | 'dir';
}

/** A FAT volume id derived from a seed string (first 4 bytes of its SHA-256). */
export function espVolumeId(seed: string): number {
  return createHash('sha256').update(seed).digest().readUInt32BE(0);
}

// --- validation -------------------------------------------------------------------------------------

function checkFiles(files: EspFile[]): { files: EspFile[]; dirs: string[] } {
  const seen = new Map<string, string>();
  const dirs = new Set<string>();
  for (const f of files) {
    const parts = checkPath(f.path);
    const key = f.path.toUpperCase();
    if (seen.has(key)) throw new InputError(`ESP path ${JSON.stringify(f.path)} given twice (FAT is case-insensitive)`);
    seen.set(key, f.path);
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
  }
  for (const d of dirs) {
    if (seen.has(d.toUpperCase())) throw new InputError(`ESP path ${JSON.stringify(d)} is both a file and a folder`);
  }
  const byPath = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return { files: [...files].sort((a, b) => byPath(a.path, b.path)), dirs: [...dirs].sort(byPath) };
}

function checkEpoch(sde: number): void {
  if (!Number.isInteger(sde) || sde < FAT_FIRST_EPOCH || sde > FAT_LAST_EPOCH) {
    throw new InputError(`sourceDateEpoch ${sde} is outside what FAT can store (1980-01-01 .. 2107-12-31)`);
  }
}

function checkOffset(offsetBytes: number): void {
  if (!Number.isSafeInteger(offsetBytes) || offsetBytes < 0 || offsetBytes % SECTOR !== 0) {
    throw new InputError(`ESP offset ${offsetBytes} is not a non-negative multiple of ${SECTOR}`);
  }
}

// --- tools --------------------------------------------------------------------------------------------

/**
 * The whole environment of every tool run (the caller's is not inherited: MTOOLS_* variables such as
 * MTOOLS_NO_VFAT or MTOOLS_DOTTED_DIR would change what is written or how mdir prints).
 */
function toolEnv(sourceDateEpoch?: number): Record<string, string> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', MTOOLS_SKIP_CHECK: '1', TZ: 'UTC', LC_ALL: 'C', MTOOLSRC: '/dev/null' };
  if (sourceDateEpoch !== undefined) env.SOURCE_DATE_EPOCH = String(sourceDateEpoch);
  return env;
}

interface RunResult {
  stdout: Buffer;
  stderr: string;
}

/** Runs a tool; throws a one-line ToolError naming the image on failure (or when it is not installed). */
async function run(cmd: string, args: string[], image: string, env: Record<string, string>, pkg: string): Promise<RunResult> {
  const r = await execa(cmd, args, { env, extendEnv: false, reject: false, encoding: 'buffer', stdin: 'ignore', stripFinalNewline: false });
  const stderr = Buffer.from(r.stderr).toString('utf8');
  if ((r as { code?: string }).code === 'ENOENT') throw new ToolError(`${cmd} not found (install ${pkg})`, { file: image });
  if (r.exitCode !== 0) {
    const line = stderr.split('\n').map((l) => l.trim()).filter(Boolean).pop() ?? `exit code ${r.exitCode ?? r.signal}`;
    throw new ToolError(`${cmd} failed: ${line}`, { file: image });
  }
  return { stdout: Buffer.from(r.stdout), stderr };
}

/** mtools' `image@@offset` drive syntax; an image path containing "@@" would be ambiguous. */
function mtools(image: string, offsetBytes: number): string {
  if (image.includes('@@')) throw new InputError('image path contains "@@", which mtools cannot take', { file: image });
  return `${image}@@${offsetBytes}`;
}

/** Zeroes [offset, offset+size) of the image, writing only chunks that are not already zero. */
async function zeroRange(image: string, offsetBytes: number, sizeBytes: number): Promise<void> {
  const chunk = 1024 * 1024;
  const buf = Buffer.alloc(chunk);
  const zeros = Buffer.alloc(chunk);
  const fh = await fsp.open(image, 'r+');
  try {
    for (let pos = offsetBytes, end = offsetBytes + sizeBytes; pos < end; pos += chunk) {
      const len = Math.min(chunk, end - pos);
      const { bytesRead } = await fh.read(buf, 0, len, pos);
      if (bytesRead !== len) throw new InputError(`image shorter than the ESP range (short read at ${pos})`, { file: image });
      if (!buf.subarray(0, len).equals(zeros.subarray(0, len))) await fh.write(zeros, 0, len, pos);
    }
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes the files into a fresh temp folder with mtime = sourceDateEpoch; returns their staged paths. */
async function stage<T>(files: EspFile[], sde: number, use: (staged: string[]) => Promise<T>): Promise<T> {
  const dir = await fsp.mkdtemp(join(tmpdir(), 'imgbuild-esp-'));
  try {
    const staged: string[] = [];
    for (const [i, f] of files.entries()) {
      const p = join(dir, `f${i}`);
      await fsp.writeFile(p, f.data);
      await fsp.utimes(p, sde, sde);
      staged.push(p);
    }
    return await use(staged);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

async function copyIn(image: string, offsetBytes: number, files: EspFile[], dirs: string[], sde: number, overwrite: boolean): Promise<void> {
  const env = toolEnv(sde);
  const target = mtools(image, offsetBytes);
  if (dirs.length > 0) await run('mmd', ['-i', target, ...dirs.map((d) => `::/${d}`)], image, env, 'mtools');
  await stage(files, sde, async (staged) => {
    for (const [i, f] of files.entries()) {
      await run('mcopy', ['-m', ...(overwrite ? ['-o'] : []), '-i', target, staged[i], `::/${f.path}`], image, env, 'mtools');
    }
  });
}

// --- API ------------------------------------------------------------------------------------------------

/** Formats a FAT32 ESP inside `image` at `offsetBytes` and writes `files` into it, reproducibly. */
export async function makeEsp(opts: MakeEspOptions): Promise<void> {
  const { image, offsetBytes, sizeBytes, volumeId, sourceDateEpoch } = opts;
  const label = opts.label ?? ESP_DEFAULT_LABEL;
  checkOffset(offsetBytes);
  if (!Number.isSafeInteger(sizeBytes) || sizeBytes % SECTOR !== 0) throw new InputError(`ESP size ${sizeBytes} is not a multiple of ${SECTOR}`, { file: image });
  if (sizeBytes < ESP_MIN_BYTES) {
    throw new InputError(`ESP of ${sizeBytes} bytes is too small for FAT32 (needs at least ${ESP_MIN_BYTES / 1024 / 1024} MiB)`, { file: image });
  }
  if (!Number.isInteger(volumeId) || volumeId < 0 || volumeId > 0xffff_ffff) throw new InputError(`FAT volume id ${volumeId} is not a 32-bit unsigned integer`);
  if (!/^[A-Z0-9 _-]{1,11}$/.test(label)) throw new InputError(`FAT label ${JSON.stringify(label)}: 1..11 characters of A-Z 0-9 space _ -`);
  checkEpoch(sourceDateEpoch);
  const { files, dirs } = checkFiles(opts.files);
  mtools(image, offsetBytes); // refuses an image path mtools cannot take, before anything is written
  let size: number;
  try {
    size = (await fsp.stat(image)).size;
  } catch (e) {
    throw fsError(e, image, 'cannot open image');
  }
  if (size < offsetBytes + sizeBytes) {
    throw new InputError(`image is ${size} bytes, the ESP range ends at ${offsetBytes + sizeBytes}`, { file: image });
  }

  if (!opts.rangeIsZero) await zeroRange(image, offsetBytes, sizeBytes);
  const sectors = String(offsetBytes / SECTOR);
  const args = ['-F', '32', '-S', String(SECTOR), '-s', String(sectorsPerCluster(sizeBytes)), '--invariant', '-i', volumeId.toString(16).padStart(8, '0'), '-h', sectors, '--mbr=n', '-n', label, '--offset', sectors, image, String(mkfsBlockCount(sizeBytes, { imageBytes: size, offsetBytes }))];
  const r = await run('mkfs.vfat', args, image, toolEnv(), 'dosfstools');
  if (/less then suggested minimum|less than suggested minimum/i.test(r.stderr)) {
    throw new InputError(`ESP of ${sizeBytes} bytes is too small for FAT32 (mkfs.vfat: too few clusters)`, { file: image });
  }
  await copyIn(image, offsetBytes, files, dirs, sourceDateEpoch, false);
}

export interface ReplaceEspOptions {
  /**
   * Paths that no bootable slot reads now (the UKI of a slot whose priority is 0 while it is
   * rewritten). These are deleted first and written in place: no side copy, so an update needs no
   * room for a second copy of the largest file on the ESP.
   */
  unbooted?: readonly string[];
}

/**
 * Writes `files` into an existing ESP, overwriting files of the same name and creating missing
 * folders. Not atomic (see the module comment). Files named in `unbooted` are replaced first, in
 * place; every other replaced file goes through a side copy.
 */
export async function replaceEspFiles(image: string, offsetBytes: number, files: EspFile[], sourceDateEpoch: number, opts: ReplaceEspOptions = {}): Promise<void> {
  checkOffset(offsetBytes);
  checkEpoch(sourceDateEpoch);
  const checked = checkFiles(files);
  const existing = await listEsp(image, offsetBytes);
  const kinds = new Map(existing.map((e) => [e.path.toUpperCase(), e.kind]));
  for (const d of checked.dirs) {
    if (kinds.get(d.toUpperCase()) === 'file') throw new InputError(`ESP has a file where folder ${d} is needed`, { file: image });
  }
  for (const f of checked.files) {
    if (kinds.get(f.path.toUpperCase()) === 'dir') throw new InputError(`ESP has a folder where file ${f.path} is to go`, { file: image });
  }
  const unbooted = new Set((opts.unbooted ?? []).map((p) => p.toUpperCase()));
  const missing = checked.dirs.filter((d) => !kinds.has(d.toUpperCase()));
  const replaced = checked.files.filter((f) => kinds.get(f.path.toUpperCase()) === 'file');
  const inPlace = replaced.filter((f) => unbooted.has(f.path.toUpperCase()));
  const live = replaced.filter((f) => !unbooted.has(f.path.toUpperCase()));
  const added = checked.files.filter((f) => kinds.get(f.path.toUpperCase()) !== 'file');
  const env = toolEnv(sourceDateEpoch);
  const target = mtools(image, offsetBytes);
  // Deleted before anything is added: their clusters are then free for what follows.
  for (const f of inPlace) await run('mdel', ['-i', target, `::/${f.path}`], image, env, 'mtools');
  await copyIn(image, offsetBytes, [...inPlace, ...added], missing, sourceDateEpoch, false);
  // FAT has no atomic replace. Copy the new file in full under a side name first, then drop the old
  // entry and rename: a crash can then cost the file only between two directory updates, not during
  // the whole copy (mcopy -o deletes first and writes after).
  const side = live.map((f) => ({ path: `${f.path}${ESP_REPLACE_SUFFIX}`, data: f.data }));
  await copyIn(image, offsetBytes, side, [], sourceDateEpoch, true);
  for (const f of live) {
    await run('mdel', ['-i', target, `::/${f.path}`], image, env, 'mtools');
    await run('mren', ['-i', target, `::/${f.path}${ESP_REPLACE_SUFFIX}`, `::/${f.path}`], image, env, 'mtools');
  }
}

/** Deletes files from the ESP (those that are there; a missing one is no error). */
export async function removeEspFiles(image: string, offsetBytes: number, paths: string[], sourceDateEpoch: number): Promise<void> {
  checkOffset(offsetBytes);
  checkEpoch(sourceDateEpoch);
  const kinds = new Map((await listEsp(image, offsetBytes)).map((e) => [e.path.toUpperCase(), e.kind]));
  const target = mtools(image, offsetBytes);
  for (const p of paths) {
    if (kinds.get(p.toUpperCase()) === 'file') await run('mdel', ['-i', target, `::/${p}`], image, toolEnv(sourceDateEpoch), 'mtools');
  }
}

/** Reads one file out of the ESP. InputError when it is not there. */
export async function readEspFile(image: string, offsetBytes: number, path: string): Promise<Buffer> {
  checkOffset(offsetBytes);
  checkPath(path);
  const entries = await listEsp(image, offsetBytes);
  const hit = entries.find((e) => e.path.toUpperCase() === path.toUpperCase());
  if (hit === undefined || hit.kind !== 'file') throw new InputError(`ESP has no file ${path}`, { file: image });
  // Through a temp file rather than stdout: no output size limit, no newline stripping.
  const dir = await fsp.mkdtemp(join(tmpdir(), 'imgbuild-esp-'));
  try {
    const out = join(dir, 'file');
    await run('mcopy', ['-n', '-i', mtools(image, offsetBytes), `::/${path}`, out], image, toolEnv(), 'mtools');
    return await fsp.readFile(out);
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

/**
 * Every file of the ESP with its bytes, sorted by path: one mcopy for the whole tree rather than one
 * per file. For an ESP that imgbuild wrote; a name mtools cannot glob fails the whole read, so a
 * checker of foreign images reads file by file (readEspFile) instead.
 */
export async function readEspFiles(image: string, offsetBytes: number): Promise<EspFile[]> {
  const entries = await listEsp(image, offsetBytes);
  const top = [...new Set(entries.map((e) => e.path.split('/')[0]))];
  if (top.length === 0) return [];
  const dir = await fsp.mkdtemp(join(tmpdir(), 'imgbuild-esp-'));
  try {
    await run('mcopy', ['-s', '-n', '-i', mtools(image, offsetBytes), ...top.map((t) => `::/${t}`), `${dir}/`], image, toolEnv(), 'mtools');
    const files: EspFile[] = [];
    for (const e of entries) if (e.kind === 'file') files.push({ path: e.path, data: await fsp.readFile(join(dir, e.path)) });
    return files;
  } finally {
    await fsp.rm(dir, { recursive: true, force: true });
  }
}

/** Every file and folder of the ESP, sorted by path (long names as stored). */
export async function listEsp(image: string, offsetBytes: number): Promise<EspEntry[]> {
  checkOffset(offsetBytes);
  try {
    await fsp.access(image);
  } catch (e) {
    throw fsError(e, image, 'cannot open image');
  }
  let out: string;
  try {
    out = (await run('mdir', ['-/', '-b', '-a', '-i', mtools(image, offsetBytes), '::/'], image, toolEnv(), 'mtools')).stdout.toString('utf8');
  } catch (e) {
    // An empty root makes `mdir -b` fail with 'File "::/" not found'.
    if (e instanceof ToolError && /File "::\/" not found/.test(e.message)) return [];
    throw e;
  }
  const entries: EspEntry[] = [];
  for (const line of out.split('\n')) {
    if (!line.startsWith('::/')) continue;
    const p = line.slice(3);
    entries.push(p.endsWith('/') ? { path: p.slice(0, -1), kind: 'dir' } : { path: p, kind: 'file' });
  }
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
