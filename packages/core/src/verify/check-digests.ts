/**
 * Regions checked by digest: reserved partitions (neither ESP, slot, nor writable) and unallocated
 * space. Writable partitions are listed as not covered, so nothing is skipped without saying so.
 */
import type { ImageManifest } from '../manifest/manifest.js';
import { fail, notCovered, pass, type ImageCheck } from './check.js';
import { coverageOf, partName } from './coverage.js';
import { digestRanges } from './digest.js';
import { partitionRange, unallocatedRanges } from './regions.js';

const v1 = (m: ImageManifest) => `manifest version ${m.upgradedFrom} did not record it`;

export async function checkReserved(image: string, m: ImageManifest): Promise<ImageCheck[]> {
  const out: ImageCheck[] = [];
  for (const p of m.partitions.filter((q) => coverageOf(q.role) === 'digest')) {
    const rec = m.reserved?.find((r) => r.number === p.number);
    if (!m.reserved) {
      out.push(notCovered('reserved', partName(p), v1(m)));
      continue;
    }
    if (!rec) {
      out.push(fail('reserved', `${partName(p)} sha256`, null, null, `role ${p.role} is digested at build time, but the manifest has no digest for it`));
      continue;
    }
    const d = await digestRanges(image, [partitionRange(p, m.disk.sectorSize)]);
    out.push(d.sha256 === rec.sha256 && d.bytes === rec.bytes ? pass('reserved', partName(p), `sha256 of ${d.bytes} bytes as built`, d.sha256) : fail('reserved', `${partName(p)} sha256`, rec.sha256, d.sha256));
  }
  return out;
}

export async function checkUnallocated(image: string, m: ImageManifest): Promise<ImageCheck[]> {
  if (!m.unallocated || !m.gpt) return [notCovered('unallocated', 'gaps', v1(m))];
  const ranges = unallocatedRanges({ sectorSize: m.disk.sectorSize, diskBytes: m.disk.bytes, headers: [m.gpt.primary, m.gpt.backup], partitions: m.partitions });
  const d = await digestRanges(image, ranges);
  const name = `${ranges.length} gaps`;
  return [d.sha256 === m.unallocated.sha256 && d.bytes === m.unallocated.bytes ? pass('unallocated', name, `sha256 of ${d.bytes} bytes outside every partition and GPT structure as built`, d.sha256) : fail('unallocated', `${name} sha256`, m.unallocated.sha256, d.sha256)];
}

export function listWritable(m: ImageManifest): ImageCheck[] {
  return m.partitions.filter((p) => coverageOf(p.role) === 'writable').map((p) => notCovered(partName(p), 'writable', `role ${p.role}: written by the running system`));
}
