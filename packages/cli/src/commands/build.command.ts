/** `imgbuild build`: the words; the work is in build.ts. */
import { Option, type Command } from 'commander';
import { examples, lazy } from '../action.js';
import { archOption, OPTIONS } from '../options.js';

export function declareBuild(program: Command): void {
  program
    .command('build')
    .description('build a bootable A/B disk image from a /usr squashfs')
    .option('--from <squashfs>', '/usr filesystem image (squashfs or erofs)')
    .option('--from-dir <dir>', 'a /usr tree to pack with mksquashfs (reproducibly)')
    .requiredOption('--kernel <vmlinuz>', 'kernel image (x86-64: a bzImage with EFI stub; arm64: an Image)')
    .requiredOption('--initrd <initrd>', "initramfs for slot A's UKI (it opens the /usr its command line names)")
    .addOption(archOption('the machine the image boots on (kernel, UKI stub, selector, firmware)', 'x86-64'))
    .option('--layout <layout>', 'built-in layout or JSON file', 'mini')
    .addOption(new Option('--format <format>', 'output format').choices(['raw', 'qemu_uefi']).default('raw'))
    .option('--seed <seed>', 'seed for every GUID, superblock UUID and volume id (default: derived from the inputs)')
    .option('--cmdline <args>', 'extra kernel command line arguments', '')
    .option('--root-tree <dir>', "format the layout's ROOT (role root) as ext4 from this tree (/etc, /var, an empty usr/) and boot with root= on it")
    .addOption(new Option('--boot-style <style>', 'extra boot files').choices(['uki', 'flatcar']).default('uki'))
    .option('--os-release <file>', "os-release embedded in slot A's UKI (default: a generic imgbuild one)")
    .option('--selector <efi>', 'UEFI slot selector to install as EFI/BOOT/BOOTX64.EFI (BOOTAA64.EFI on arm64; default: the one npm run build makes from packages/efi-select)')
    .option('--sign-key <key.pem>', 'sign the slot selector and every UKI with this key (Authenticode, SHA-256, osslsigncode; reproducible)')
    .addOption(OPTIONS.signCert())
    .addOption(OPTIONS.signPassFile())
    .option('--secure-boot', 'qemu_uefi: OVMF\'s Secure Boot firmware with the signing certificate enrolled as PK, KEK and db (needs --sign-key/--sign-cert)')
    .option('-o, --output <path>', 'output image (raw) or folder (qemu_uefi); must not exist as a folder (default: image.raw, or image_qemu_uefi/, in the current folder)')
    .option('--force', 'replace an existing output file (raw image and its manifest); an existing folder, a qemu_uefi bundle included, is never replaced: remove it first')
    .option('--dry-run', 'print the plan (layout, partitions, the files it would write, the slot, the ESP files) and write nothing')
    .addOption(OPTIONS.imageSha256())
    .addOption(OPTIONS.json('machine-readable output (the manifest; with --dry-run the plan)'))
    .addHelpText(
      'after',
      `
Without -o the image goes to ./image.raw (and ./image.raw.manifest.json), or with --format qemu_uefi
to the folder ./image_qemu_uefi/.` +
        examples(
          'imgbuild build --from usr.squashfs --kernel vmlinuz --initrd initrd.img -o disk.raw',
          'imgbuild build --from-dir ./usr --kernel vmlinuz --initrd initrd.img --layout flatcar --format qemu_uefi -o vm',
          'imgbuild build --from usr.squashfs --kernel vmlinuz --initrd initrd.img --dry-run',
          'imgbuild build --from usr.squashfs --kernel vmlinuz --initrd initrd.img --sign-key db.key --sign-cert db.crt -o signed.raw',
          'imgbuild build --arch arm64 --from usr.squashfs --kernel Image --initrd initrd-arm64.img -o arm64.raw',
        ),
    )
    .action(lazy(() => import('./build.js')));
}
