/**
 * "Will the boot files fit on the ESP?", answered before the first byte is written. The build's own
 * files must fit, and so must one more UKI of the same size: the first `update` adds slot B's UKI
 * beside A's, and an image whose first update cannot land is a trap.
 */
import { ESP_REPLACE_SUFFIX, espBytesNeeded, espCapacityBytes, espGeometry, ukiEspPath, type EspFile } from '../boot/index.js';
import { InputError } from '../errors.js';
import type { LayoutPlan, PlannedPartition } from '../layout/plan.js';
import type { ImageManifest } from '../manifest/manifest.js';

const MiB = 1024 * 1024;

export function checkEspRoom(plan: LayoutPlan, esp: PlannedPartition, files: readonly EspFile[], ukiBytes: number, source: string): void {
  const where = { imageBytes: plan.diskBytes, offsetBytes: esp.offsetBytes };
  const planned = [...files.map((f) => ({ path: f.path, size: f.data.length })), { path: ukiEspPath('B'), size: ukiBytes }];
  const need = espBytesNeeded(planned, espGeometry(esp.sizeBytes, where).clusterBytes);
  const room = espCapacityBytes(esp.sizeBytes, where);
  if (need > room) {
    throw new InputError(
      `the boot files need ${(need / MiB).toFixed(1)} MiB on ${esp.label} (the selector, slot A's UKI and room for slot B's of the same size) but its FAT holds ${(room / MiB).toFixed(1)} MiB; use a layout with a larger ESP`,
      { file: source },
    );
  }
}

/** A file `update` writes: `inPlace` when no bootable slot reads it (see replaceEspFiles' `unbooted`). */
export interface UpdateEspFile {
  path: string;
  size: number;
  inPlace?: boolean;
}

/**
 * `update`'s question, asked in a dry run too: does the ESP hold the most it will hold while the
 * files are written? That is, the manifest's files, with the in-place ones swapped for their new
 * size and the others' side copies beside their old selves (replaceEspFiles keeps both until the
 * rename). A manifest without an ESP record (version 1) cannot answer; the write itself then decides.
 */
export function checkUpdateEspRoom(m: ImageManifest, esp: { label: string; firstLba: number; lastLba: number }, files: readonly UpdateEspFile[], source: string): void {
  if (!m.esp) return;
  const inPlace = new Set(files.filter((f) => f.inPlace).map((f) => f.path.toUpperCase()));
  const kept = m.esp.files.filter((f) => !inPlace.has(f.path.toUpperCase())).map((f) => ({ path: f.path, size: f.bytes }));
  const written = files.map((f) => ({ path: f.inPlace ? f.path : `${f.path}${ESP_REPLACE_SUFFIX}`, size: f.size }));
  const sizeBytes = (esp.lastLba - esp.firstLba + 1) * m.disk.sectorSize;
  const where = { imageBytes: m.image.bytes, offsetBytes: esp.firstLba * m.disk.sectorSize };
  const need = espBytesNeeded([...kept, ...written], espGeometry(sizeBytes, where).clusterBytes);
  const room = espCapacityBytes(sizeBytes, where);
  if (need > room) {
    throw new InputError(
      `the ESP (${esp.label}) would need ${(need / MiB).toFixed(1)} MiB while this update writes ${files.map((f) => `${f.path} (${(f.size / MiB).toFixed(1)} MiB)`).join(', ')} but its FAT holds ${(room / MiB).toFixed(1)} MiB; nothing was written`,
      { file: source },
    );
  }
}
