/**
 * The ESP, by content: every file the manifest lists must be there with its sha256 and size, and
 * nothing else may be (an extra file or folder fails). Which files those are is the manifest's
 * business: nothing here knows the boot layout. The FAT structures beyond the boot sectors are not compared
 * (a replaced file leaves different FAT chains and stale free clusters); the files they hold are.
 */
import { listEsp, readEspFile } from '../boot/esp.js';
import type { ImageManifest } from '../manifest/manifest.js';
import { isLegacyBoot, sha256Buffer } from '../manifest/manifest.js';
import { fail, notCovered, pass, type ImageCheck } from './check.js';
import { fatBootArea } from './fat.js';
import { findEsp } from '../layout/roles.js';

export interface EspFileRead {
  path: string;
  data: Buffer;
}

export interface EspResult {
  checks: ImageCheck[];
  /** Every file found on the ESP, for the boot checks. */
  files: EspFileRead[];
}

const key = (p: string) => p.toUpperCase(); // FAT names are case-insensitive

export async function checkEsp(image: string, m: ImageManifest): Promise<EspResult> {
  const region = 'esp';
  let esp;
  try {
    esp = findEsp(m.partitions);
  } catch (e) {
    return { checks: [fail(region, 'partition', 'one ESP', null, (e as Error).message)], files: [] };
  }
  if (!esp) return { checks: [fail(region, 'partition', 'an ESP', null, 'the manifest lists no ESP partition')], files: [] };
  if (m.esp && m.esp.partition !== esp.number) return { checks: [fail(region, 'partition', String(esp.number), String(m.esp.partition), 'the recorded ESP is not the partition whose role is "esp"')], files: [] };
  const offset = esp.firstLba * m.disk.sectorSize;
  let entries;
  try {
    entries = await listEsp(image, offset);
  } catch (e) {
    return { checks: [fail(region, 'FAT filesystem', 'a readable FAT', null, (e as Error).message)], files: [] };
  }
  const files: EspFileRead[] = [];
  const unreadable: ImageCheck[] = [];
  for (const e of entries) {
    if (e.kind !== 'file') continue;
    try {
      files.push({ path: e.path, data: await readEspFile(image, offset, e.path) });
    } catch (err) {
      // A name imgbuild would never write (mtools glob characters, non-ASCII) cannot be read back.
      unreadable.push(fail(region, `unreadable file ${e.path}`, null, null, (err as Error).message));
    }
  }
  const found = new Map(files.map((f) => [key(f.path), f]));
  // Version 1 recorded only the UKI at boot.espPath.
  const want = m.esp?.files ?? (isLegacyBoot(m.boot) ? [{ path: m.boot.espPath, sha256: m.boot.ukiSha256, bytes: NaN }] : []);
  const checks: ImageCheck[] = [...unreadable];
  for (const w of want) {
    const f = found.get(key(w.path));
    if (!f) {
      checks.push(fail(region, w.path, w.sha256, null, 'missing'));
      continue;
    }
    const sha = sha256Buffer(f.data);
    if (sha !== w.sha256) checks.push(fail(region, `${w.path}: sha256`, w.sha256, sha, `expected ${w.sha256}, found ${sha}${Number.isNaN(w.bytes) || w.bytes === f.data.length ? '' : ` (${w.bytes} bytes built, ${f.data.length} now)`}`));
    else checks.push(pass(region, w.path, `sha256 ${sha.slice(0, 16)}…, ${f.data.length} bytes as built`, sha));
  }
  if (!m.esp) {
    checks.push(notCovered(region, 'other files', 'manifest version 1 recorded only the UKI'));
    return { checks, files };
  }
  const listed = new Set(want.map((w) => key(w.path)));
  const parents = new Set(want.flatMap((w) => w.path.split('/').slice(0, -1).map((_, i, a) => key(a.slice(0, i + 1).join('/')))));
  const inFlux = new Set((m.pending?.espPaths ?? []).map(key));
  for (const f of files) {
    if (listed.has(key(f.path))) continue;
    if (inFlux.has(key(f.path))) checks.push(notCovered(region, f.path, `written by an interrupted update of slot ${m.pending!.slot}; run imgbuild update again`));
    else checks.push(fail(region, `unexpected file ${f.path}`, null, sha256Buffer(f.data), `not in the manifest (${f.data.length} bytes)`));
  }
  for (const e of entries) if (e.kind === 'dir' && !parents.has(key(e.path))) checks.push(fail(region, `unexpected folder ${e.path}`, null, e.path, 'not in the manifest'));
  const boot = await fatBootArea(image, offset);
  const bootName = 'FAT boot sectors sha256';
  checks.push(boot.sha256 === m.esp.bootArea.sha256 && boot.bytes === m.esp.bootArea.bytes ? pass(region, 'FAT boot sectors', `sha256 of ${boot.bytes} bytes (FSInfo aside) as built`, boot.sha256) : fail(region, bootName, m.esp.bootArea.sha256, boot.sha256));
  checks.push(notCovered(region, 'FAT structures', 'the FATs, FSInfo, directory entries and free clusters change with every file write and are not compared; every file is, by content'));
  return { checks, files };
}
