/** `imgbuild update`: the words; the work is in update.ts. */
import type { Command } from 'commander';
import { examples, lazy } from '../action.js';
import { archOption, BUILT_IMAGE_ARG, OPTIONS } from '../options.js';

export function declareUpdate(program: Command): void {
  program
    .command('update')
    .description('write a new /usr into the inactive slot, carry its root hash on the command line, and mark it to boot next (once)')
    .argument('<image>', BUILT_IMAGE_ARG)
    .requiredOption('--from <squashfs>', 'new /usr filesystem image')
    .option('--kernel <vmlinuz>', 'new kernel (default: keep the one in the image)')
    .option('--initrd <initrd>', 'new initramfs (default: keep the one in the image)')
    .addOption(archOption("the architecture you expect the image to be (refused when its manifest says another; default: the manifest's)"))
    .option('--sign-key <key.pem>', 'a signed image: sign the new UKI with its key (Authenticode, SHA-256, osslsigncode; reproducible)')
    .addOption(OPTIONS.signCert())
    .addOption(OPTIONS.signPassFile())
    .option('--dry-run', 'print the slot it would write and the slot state before and after, and write nothing')
    .addOption(OPTIONS.imageSha256())
    .addOption(OPTIONS.json())
    .addHelpText(
      'after',
      examples(
        'imgbuild update disk.raw --from usr-v2.squashfs',
        'imgbuild update image_qemu_uefi --from usr-v2.squashfs --kernel vmlinuz-6.12 --initrd initrd-6.12.img',
        'imgbuild update disk.raw --from usr-v2.squashfs --dry-run --json',
      ),
    )
    .action(lazy(() => import('./update.js')));
}
