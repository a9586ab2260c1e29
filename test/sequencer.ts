/**
 * The order vitest hands test files to its two workers. A fresh clone has no timings cached, and
 * vitest's own order (larger files first) would start two example-OS boot files together: one builds
 * the OS (about 6 minutes) while the other waits on the build's lock. Here the costliest OS file
 * starts at once and builds the OS; the other worker meanwhile runs everything that needs no OS (unit
 * tests, the boot kit's boots), and the remaining OS files follow, costliest first, so that the two
 * workers end close together.
 */
import { relative } from 'node:path';
import type { TestSpecification } from 'vitest/node';
import { BaseSequencer } from 'vitest/node';

/** Example-OS boot files, costliest first (boots × minutes under TCG beside another boot; docs/boot.md). */
export const OS_BOOT_FILES = [
  'test/boot/sysupdate.test.ts', // 5 boots, two of them downloading 200 MB
  'test/boot/provision.test.ts', // 4 first boots with Ignition
  'test/boot/heal-os.test.ts', // 2 runs of a failed boot and its fallback
  'test/boot/os.test.ts', // 2 boots with a TPM
  'test/boot/sysext.test.ts', // 1 boot
];

export default class OsFirstSequencer extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const rank = (f: TestSpecification) => OS_BOOT_FILES.indexOf(relative(f.project.config.root, f.moduleId));
    const os = sorted.filter((f) => rank(f) >= 0).sort((a, b) => rank(a) - rank(b));
    const rest = sorted.filter((f) => rank(f) < 0);
    return [...os.slice(0, 1), ...rest, ...os.slice(1)];
  }
}
