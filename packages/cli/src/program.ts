/**
 * Every imgbuild command in one list. Each action lazily imports `commands/<name>.js`, so a command
 * only loads what it uses; one catch maps errors to exit codes (0 ok, 1 failed, 2 usage).
 */
import { Command, CommanderError, Option } from 'commander';
import { EXIT_FAILED, EXIT_USAGE, errorLine, exitCodeFor } from './output.js';
import { bit, integer, positive } from './parse.js';
import { CLI_VERSION } from './version.js';
import { archOption } from './arch-option.js';

type Action = (...args: any[]) => Promise<number | void>;
const lazy = (name: string, fn = 'run'): Action => async (...args: any[]) => {
  const mod = await import(`./commands/${name}.js`);
  return mod[fn](...args);
};

let exitCode = 0;
let subject: string | undefined;
function act(a: Action): (...args: any[]) => Promise<void> {
  return async (...args: any[]) => {
    const code = await a(...args);
    if (typeof code === 'number') exitCode = code;
  };
}

/** The Examples section every command's --help ends with. */
function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}`;
}

export function buildProgram(): Command {
  const program = new Command('imgbuild')
    .description('Build immutable-OS disk images: GPT with USR-A/USR-B slots, dm-verity, A/B updates with rollback')
    .version(CLI_VERSION)
    // Program options only before the command: `sysext build --version V` is the extension's version.
    .enablePositionalOptions()
    // Commander's own complaints (unknown command or option, bad choice, missing argument) are usage
    // errors: main() prints them as our one line, so commander itself prints none. Inherited by every
    // subcommand, as is exitOverride.
    .configureOutput({ outputError: () => {} })
    .exitOverride()
    .helpCommand('help [command...]', 'help for a command (help slot next)')
    // The command's main path, for a system error that carries none (a read on a folder: EISDIR).
    .hook('preAction', (_program, action) => {
      subject = action.args[0] ?? action.opts().output;
    })
    .addHelpText(
      'after',
      examples(
        'imgbuild build --from-dir examples/usr --kernel vmlinuz --initrd initrd.img -o disk.raw',
        'imgbuild verify disk.raw',
        'imgbuild update disk.raw --from usr-v2.squashfs && imgbuild slot status disk.raw',
        'imgbuild layout show flatcar --svg flatcar.svg',
        'imgbuild <command> --help      every option of one command',
      ),
    );

  const layout = program
    .command('layout')
    .description('inspect declarative disk layouts')
    .addHelpText('after', examples('imgbuild layout list', 'imgbuild layout show flatcar --svg flatcar.svg'));
  layout
    .command('show')
    .description('print the planned geometry of a layout (built-in name or JSON file)')
    .argument('<layout>', 'built-in layout (flatcar, flatcar-2025, mini) or a JSON file')
    .option('--svg <file>', 'also write a picture of the layout as SVG')
    .option('--force', 'replace an existing --svg file')
    .option('--json', 'machine-readable output')
    .addHelpText('after', examples('imgbuild layout show flatcar', 'imgbuild layout show my-fleet.json --json', 'imgbuild layout show mini --svg mini.svg'))
    .action(act(lazy('layout', 'show')));
  layout
    .command('list')
    .description('list the built-in layouts')
    .option('--json', 'machine-readable output')
    .addHelpText('after', examples('imgbuild layout list', 'imgbuild layout list --json | jq -r ".[].name"'))
    .action(act(lazy('layout', 'list')));

  const gpt = program
    .command('gpt')
    .description('create, inspect and repair GUID partition tables')
    .addHelpText('after', examples('imgbuild gpt create --layout mini -o disk.img', 'imgbuild gpt show disk.img', 'imgbuild gpt repair disk.img'));
  gpt
    .command('create')
    .description('write a sparse disk image holding only the GPT of a layout')
    .requiredOption('--layout <layout>', 'built-in layout or JSON file')
    .option('--seed <seed>', 'seed for every GUID the layout does not fix (default: derived from the layout)')
    .requiredOption('-o, --output <file>', 'image to create')
    .option('--force', 'replace an existing regular file (a directory, device, FIFO or socket is never replaced)')
    .option('--json', 'machine-readable output')
    .addHelpText('after', examples('imgbuild gpt create --layout mini -o disk.img', 'imgbuild gpt create --layout my-fleet.json --seed fleet-1 -o disk.img --force'))
    .action(act(lazy('gpt', 'create')));
  gpt
    .command('show')
    .description('print the partition table as read, with attribute bits decoded')
    .argument('<image>', 'raw disk image or qemu_uefi bundle folder')
    .option('--svg <file>', 'also write a picture of the disk as SVG')
    .option('--force', 'replace an existing --svg file')
    .option('--json', 'machine-readable output')
    .addHelpText('after', examples('imgbuild gpt show disk.raw', 'imgbuild gpt show image_qemu_uefi --json', 'imgbuild gpt show disk.raw --svg disk.svg'))
    .action(act(lazy('gpt', 'show')));
  gpt
    .command('repair')
    .description('rewrite a damaged GPT copy (primary or backup) from the good one')
    .argument('<image>', 'raw disk image or qemu_uefi bundle folder')
    .option('--json', 'machine-readable output')
    .addHelpText('after', examples('imgbuild gpt repair disk.raw', 'imgbuild gpt show disk.raw --json | jq .gpt.needsRepair'))
    .action(act(lazy('gpt', 'repair')));

  const verity = program
    .command('verity')
    .description('dm-verity hash trees, byte-identical to veritysetup (verify them with imgbuild verity-verify)')
    .addHelpText('after', examples('imgbuild verity format usr.squashfs usr.hash', 'imgbuild verity-verify usr.squashfs --hash-file usr.hash --root-hash <hex>'));
  verity
    .command('format')
    .description('compute the hash tree of <data> and write it to <hashfile> or after the data at --hash-offset')
    .argument('<data>', 'data file (or image)')
    .argument('[hashfile]', 'separate hash file (default: same file as the data, at --hash-offset)')
    .option('--hash-offset <bytes>', 'byte offset of the hash area in the hash file', integer('--hash-offset'))
    .option('--data-offset <bytes>', 'byte offset of the data area in the data file', integer('--data-offset'), 0)
    .option('--data-blocks <n>', 'number of data blocks (default: the whole data file)', integer('--data-blocks'))
    .option('--salt <hex|->', 'salt in hex, or - for none (default: derived from --seed, or random)')
    .option('--seed <seed>', 'derive salt and UUID from this seed (reproducible)')
    .option('--no-superblock', 'do not write the verity superblock')
    .option('--hash <alg>', 'sha256, sha512 or sha1', 'sha256')
    .option('--format <type>', 'hash type: 1 normal, 0 Chrome OS', '1')
    .option('--data-block-size <n>', 'data block size', integer('--data-block-size'), 4096)
    .option('--hash-block-size <n>', 'hash block size', integer('--hash-block-size'), 4096)
    .option('--uuid <uuid>', 'superblock UUID')
    .option('--pad', 'accept data whose size is not a multiple of the block size (the last block is zero padded)')
    .option('-j, --jobs <n>', 'worker threads (default: number of cores)', integer('--jobs', { min: 1 }))
    .option('--force', 'write into an existing file: the HASHFILE, or, without one, DATA itself (the tree is appended to it, or written at --hash-offset)')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      `
Without HASHFILE the hash area goes into DATA itself, which changes your input: that needs --force.
Examples:
  imgbuild verity format usr.squashfs usr.hash              tree in a new file; usr.squashfs untouched
  imgbuild verity format usr.squashfs --force               tree appended to usr.squashfs (it grows)
  imgbuild verity format disk.img --data-blocks N --hash-offset B --force   tree inside disk.img at B`,
    )
    .action(act(lazy('verity', 'format')));
  // `verity verify` is what one types after `verity format`; the verb lives at the top level.
  verity
    .command('verify', { hidden: true })
    .description('see imgbuild verity-verify')
    .allowUnknownOption()
    .allowExcessArguments()
    .action(function (this: Command) {
      this.error('the verify verb is "imgbuild verity-verify DATA --root-hash H ..."', { exitCode: EXIT_USAGE, code: 'imgbuild.verityVerify' });
    });
  program
    .command('verity-verify')
    .description('check data against its hash tree and root hash (parameters from the superblock)')
    .argument('<data>', 'data file, or a disk image with --slot')
    .requiredOption('--root-hash <hex>', 'expected root hash')
    .option('--hash-file <file>', 'separate hash file')
    .option('--hash-offset <bytes>', 'byte offset of the hash area (same file as the data; with --slot: from the partition start)', integer('--hash-offset'))
    .option('--slot <slot>', 'on a disk image or qemu_uefi bundle: the USR slot (A, B, USR-A or a partition number)')
    .option('--data-blocks <n>', 'data blocks (needed with --no-superblock)', integer('--data-blocks'))
    .option('--no-superblock', 'the hash area has no superblock (give every parameter)')
    .option('--salt <hex|->', 'salt (only with --no-superblock)')
    .option('--hash <alg>', 'hash algorithm (only with --no-superblock)', 'sha256')
    .option('--data-block-size <n>', 'data block size (only with --no-superblock)', integer('--data-block-size'), 4096)
    .option('--hash-block-size <n>', 'hash block size (only with --no-superblock)', integer('--hash-block-size'), 4096)
    .option('-j, --jobs <n>', 'worker threads (default: number of cores)', integer('--jobs', { min: 1 }))
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      examples(
        'imgbuild verity-verify usr.squashfs --hash-file usr.hash --root-hash <hex>',
        'imgbuild verity-verify disk.raw --slot A --root-hash "$(jq -r .slots.A.rootHash disk.raw.manifest.json)"',
        'imgbuild verity-verify image_qemu_uefi --slot B --root-hash <hex> --json',
      ),
    )
    .action(act(lazy('verity', 'verify')));

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
    .option('--sign-cert <cert.pem>', 'the certificate of --sign-key (recorded in the manifest by its sha256)')
    .option('--sign-pass-file <file>', 'first line: the password of an encrypted --sign-key (or set IMGBUILD_SIGN_PASS)')
    .option('--secure-boot', 'qemu_uefi: OVMF\'s Secure Boot firmware with the signing certificate enrolled as PK, KEK and db (needs --sign-key/--sign-cert)')
    .option('-o, --output <path>', 'output image (raw) or folder (qemu_uefi); must not exist as a folder (default: image.raw, or image_qemu_uefi/, in the current folder)')
    .option('--force', 'replace an existing output file (raw image and its manifest); an existing folder, a qemu_uefi bundle included, is never replaced: remove it first')
    .option('--dry-run', 'print the plan (layout, partitions, the files it would write, the slot, the ESP files) and write nothing')
    .option('--image-sha256', 'also record the plain sha256 of the whole raw image (a pass over the full disk size; the manifest always has image.digest)')
    .option('--json', 'machine-readable output (the manifest; with --dry-run the plan)')
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
    .action(act(lazy('build')));

  program
    .command('verify')
    .description("prove an image holds what its manifest says: every slot through dm-verity, GPT, the UKI's command line and payloads")
    .argument('<image>', 'raw image or qemu_uefi bundle folder')
    .option('--manifest <file>', 'manifest to check against (default: <image>.manifest.json, or the bundle\'s)')
    .option('--cert <cert.pem>', 'check the Secure Boot signatures against this certificate (default: the manifest\'s fingerprint)')
    .option('--json', 'machine-readable output')
    .addHelpText('after', examples('imgbuild verify disk.raw', 'imgbuild verify image_qemu_uefi --json | jq \'.checks[] | select(.ok == false)\'', 'imgbuild verify disk.raw --manifest release.manifest.json --cert db.crt'))
    .action(act(lazy('verify')));

  program
    .command('update')
    .description('write a new /usr into the inactive slot, carry its root hash on the command line, and mark it to boot next (once)')
    .argument('<image>', 'raw image or qemu_uefi bundle folder')
    .requiredOption('--from <squashfs>', 'new /usr filesystem image')
    .option('--kernel <vmlinuz>', 'new kernel (default: keep the one in the image)')
    .option('--initrd <initrd>', 'new initramfs (default: keep the one in the image)')
    .addOption(archOption("the architecture you expect the image to be (refused when its manifest says another; default: the manifest's)"))
    .option('--sign-key <key.pem>', 'a signed image: sign the new UKI with its key (Authenticode, SHA-256, osslsigncode; reproducible)')
    .option('--sign-cert <cert.pem>', 'the certificate of --sign-key (recorded in the manifest by its sha256)')
    .option('--sign-pass-file <file>', 'first line: the password of an encrypted --sign-key (or set IMGBUILD_SIGN_PASS)')
    .option('--dry-run', 'print the slot it would write and the slot state before and after, and write nothing')
    .option('--image-sha256', 'also record the plain sha256 of the whole raw image (a pass over the full disk size; the manifest always has image.digest)')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      examples(
        'imgbuild update disk.raw --from usr-v2.squashfs',
        'imgbuild update image_qemu_uefi --from usr-v2.squashfs --kernel vmlinuz-6.12 --initrd initrd-6.12.img',
        'imgbuild update disk.raw --from usr-v2.squashfs --dry-run --json',
      ),
    )
    .action(act(lazy('update')));

  program
    .command('sign')
    .description("sign an existing image's slot selector and UKIs in place (Secure Boot), and record it in the manifest")
    .argument('<image>', 'raw image or qemu_uefi bundle folder')
    .requiredOption('--sign-key <key.pem>', 'the signing key (RSA)')
    .requiredOption('--sign-cert <cert.pem>', 'its certificate')
    .option('--sign-pass-file <file>', 'first line: the password of an encrypted key (or set IMGBUILD_SIGN_PASS)')
    .option('--force', 're-sign an image signed with another certificate (machines that enrolled the old one will refuse it)')
    .option('--json', 'machine-readable output')
    .addHelpText('after', examples('imgbuild sign disk.raw --sign-key db.key --sign-cert db.crt', 'IMGBUILD_SIGN_PASS=... imgbuild sign image_qemu_uefi --sign-key db.key --sign-cert db.crt'))
    .action(act(lazy('sign')));

  const slot = program
    .command('slot')
    .description('inspect and change the A/B slot attributes (priority, tries, successful)')
    .addHelpText('after', examples('imgbuild slot status disk.raw', 'imgbuild slot mark-successful disk.raw B', 'imgbuild slot rollback disk.raw --dry-run'));
  const dryRun = 'print the slot state before and after, and write nothing';
  slot
    .command('status')
    .description('per slot priority, tries, successful, bootable; which boots next; which GPT copy was read')
    .argument('<image>', 'raw disk image or qemu_uefi bundle folder')
    .option('--svg <file>', 'also write a picture of the disk and its slots as SVG')
    .option('--force', 'replace an existing --svg file')
    .option('--json', 'machine-readable output')
    .addHelpText('after', examples('imgbuild slot status disk.raw', 'imgbuild slot status image_qemu_uefi --json | jq -r .next', 'imgbuild slot status disk.raw --svg slots.svg'))
    .action(act(lazy('slot', 'status')));
  slot
    .command('next')
    .description('perform one boot-time selection on the image as firmware would (decrements tries) and print the chosen slot')
    .argument('<image>', 'raw disk image or qemu_uefi bundle folder')
    .addOption(new Option('--variant <variant>', 'selection rules').choices(['flatcar', 'chromeos']).default('flatcar'))
    .option('--dry-run', dryRun)
    .option('--json', 'machine-readable output')
    .addHelpText('after', examples('imgbuild slot next disk.raw', 'imgbuild slot next disk.raw --variant chromeos --dry-run'))
    .action(act(lazy('slot', 'next')));
  const emptyForce = 'skip the guards: act on a slot that holds no /usr (no verity superblock at its hash offset, or no root hash in the manifest beside the image)';
  /** One slot transition: `<image> [<slot>]`, its own options, `--force` when guarded, `--dry-run`, `--json`. */
  const transition = (name: string, description: string, o: { slotArg?: boolean; options?: (c: Command) => Command; force?: string; examples: string[]; action: string }) => {
    let c = slot.command(name).description(description).argument('<image>', 'raw disk image or qemu_uefi bundle folder');
    if (o.slotArg) c = c.argument('<slot>', 'A, B, USR-A or a partition number');
    if (o.options) c = o.options(c);
    if (o.force) c = c.option('--force', o.force);
    c.option('--dry-run', dryRun)
      .option('--json', 'machine-readable output')
      .addHelpText('after', examples(...o.examples))
      .action(act(lazy('slot', o.action)));
  };
  transition(
    'prioritize',
    "make a slot boot next (cgpt's prioritize: it gets the top priority). Refused when the slot holds no /usr, or cannot boot (tries 0 and successful 0: use `slot upgrade` to boot it once, or `slot set --tries N`)",
    { slotArg: true, force: `${emptyForce}, or cannot boot (exactly cgpt prioritize)`, examples: ['imgbuild slot prioritize disk.raw A', 'imgbuild slot prioritize disk.raw USR-B --dry-run'], action: 'prioritize' },
  );
  transition('mark-successful', 'mark a slot as booted successfully (successful 1, tries 0, prioritized). Refused when the slot holds no /usr', {
    slotArg: true,
    force: emptyForce,
    examples: ['imgbuild slot mark-successful disk.raw B', 'imgbuild slot mark-successful image_qemu_uefi B --json'],
    action: 'markSuccessful',
  });
  transition('upgrade', 'mark the slot as freshly written (successful 0, tries 1, prioritized). Refused when the slot holds no /usr', {
    slotArg: true,
    force: emptyForce,
    examples: ['imgbuild slot upgrade disk.raw B', 'imgbuild slot upgrade disk.raw B --dry-run --json'],
    action: 'upgrade',
  });
  transition('rollback', 'make the other slot boot next (it must be bootable)', {
    examples: ['imgbuild slot rollback disk.raw', 'imgbuild slot rollback image_qemu_uefi --dry-run'],
    action: 'rollback',
  });
  transition('cancel-upgrade', 'undo a pending upgrade: the active slot boots next again', { examples: ['imgbuild slot cancel-upgrade disk.raw'], action: 'cancelUpgrade' });
  transition('set', 'set raw slot bits. Refused when it would make a slot that holds no /usr bootable', {
    slotArg: true,
    options: (c) =>
      c
        .option('--priority <n>', 'priority 0-15', integer('--priority', { max: 15 }))
        .option('--tries <n>', 'tries 0-15', integer('--tries', { max: 15 }))
        .option('--successful <0|1>', 'successful bit', bit('--successful'))
        .option('--attempts <n>', 'boots since the last healthy one, 0-6; 7 = demoted (0 clears a demotion)', integer('--attempts', { max: 7 })),
    force: emptyForce,
    examples: ['imgbuild slot set disk.raw B --tries 1', 'imgbuild slot set disk.raw A --priority 0 --successful 0 --dry-run'],
    action: 'set',
  });

  const sysext = program
    .command('sysext')
    .description('system extension images for systemd-sysext, and their systemd-sysupdate release files')
    .addHelpText('after', examples('imgbuild sysext build --from-dir ./hello --name hello --version 1.0'));
  sysext
    .command('build')
    .description('pack a usr/ (and opt/) tree into NAME-VERSION-ARCH.raw (ARCH: x86-64 or arm64): a DDI (GPT with root + root-verity, and NAME-VERSION-ARCH.roothash beside it) or a plain squashfs')
    .requiredOption('--from-dir <dir>', 'folder holding usr/ (and opt/); nothing else may be at its top')
    .requiredOption('--name <name>', 'extension name (extension-release.NAME, the file and sysupdate names)')
    .requiredOption('--version <version>', 'extension version (letters, digits, . _ + ~ ^ -)')
    .option('--os-id <id>', "host os-release ID= the extension is for, or _any", '_any')
    .option('--sysext-level <level>', 'SYSEXT_LEVEL= the host must have')
    .option('--os-version-id <v>', 'VERSION_ID= the host must have (when it sets no SYSEXT_LEVEL=)')
    .addOption(archOption('the machine the extension is for (ARCHITECTURE=, the file name, the DDI partition types)', 'x86-64'))
    .addOption(new Option('--fs <fs>', 'filesystem in the image').choices(['squashfs', 'erofs']).default('squashfs'))
    .addOption(new Option('--format <format>', 'ddi: GPT with root + root-verity; squashfs: the bare filesystem').choices(['ddi', 'squashfs']).default('ddi'))
    .option('-o, --output <file>', 'output file (default NAME-VERSION-ARCH.raw here)')
    .option('--sysupdate <dir>', 'publish into this release folder: the .raw and .roothash, NAME.conf and NAME.roothash.conf (sysupdate transfers), SHA256SUMS')
    .option('--sysupdate-source <url|dir>', 'where nodes fetch releases from: an http(s) URL (url-file) or a folder (regular-file); default the --sysupdate folder')
    .option('--seed <seed>', 'seed for the verity salt and UUIDs (default: the digest of the tree)')
    .option('--force', 'replace an existing output file (and a transfer file with other contents)')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      `
Examples:
  imgbuild sysext build --from-dir ./hello --name hello --version 1.0
      writes hello-1.0-x86-64.raw and .roothash; on a node: /var/lib/extensions/hello.raw and hello.roothash,
      then systemd-sysext refresh (without hello.roothash systemd does not check the image with dm-verity)
  imgbuild sysext build --from-dir ./hello --name hello --version 1.1 --os-id debian --os-version-id 12 \\
      --sysupdate ./release --sysupdate-source https://example.org/hello/
      adds hello-1.1-x86-64.raw and .roothash to ./release, (re)writes hello.conf, hello.roothash.conf, SHA256SUMS
  imgbuild sysext build --from-dir ./hello --name hello --version 1.0 --format squashfs -o hello.raw`,
    )
    .action(act(lazy('sysext', 'build')));

  const confext = program
    .command('confext')
    .description('configuration extension images for systemd-confext (merged over /etc), and their systemd-sysupdate release files')
    .addHelpText('after', examples('imgbuild confext build --from-dir ./site --name site --version 1 --os-id debian --os-version-id 12'));
  confext
    .command('build')
    .description('pack an etc/ tree into NAME-VERSION-ARCH.raw: a DDI (GPT with root + root-verity, NAME-VERSION-ARCH.roothash beside it) or a plain squashfs, with etc/extension-release.d/extension-release.NAME')
    .requiredOption('--from-dir <dir>', 'folder holding etc/; nothing else may be at its top')
    .requiredOption('--name <name>', 'extension name (extension-release.NAME, the file and sysupdate names)')
    .requiredOption('--version <version>', 'extension version (letters, digits, . _ + ~ ^ -)')
    .option('--os-id <id>', "host os-release ID= the extension is for, or _any", '_any')
    .option('--confext-level <level>', 'CONFEXT_LEVEL= the host must have')
    .option('--os-version-id <v>', 'VERSION_ID= the host must have (when it sets no CONFEXT_LEVEL=)')
    .addOption(archOption('the machine the extension is for (ARCHITECTURE=, the file name, the DDI partition types)', 'x86-64'))
    .addOption(new Option('--fs <fs>', 'filesystem in the image').choices(['squashfs', 'erofs']).default('squashfs'))
    .addOption(new Option('--format <format>', 'ddi: GPT with root + root-verity; squashfs: the bare filesystem').choices(['ddi', 'squashfs']).default('ddi'))
    .option('-o, --output <file>', 'output file (default NAME-VERSION-ARCH.raw here)')
    .option('--sysupdate <dir>', 'publish into this release folder: the .raw and .roothash, NAME.conf and NAME.roothash.conf (sysupdate transfers to /var/lib/confexts), SHA256SUMS')
    .option('--sysupdate-source <url|dir>', 'where nodes fetch releases from: an http(s) URL (url-file) or a folder (regular-file); default the --sysupdate folder')
    .option('--seed <seed>', 'seed for the verity salt and UUIDs (default: the digest of the tree)')
    .option('--force', 'replace an existing output file (and a transfer file with other contents)')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      `
Examples:
  imgbuild confext build --from-dir ./site --name site --version 1 --os-id debian --os-version-id 12
      writes site-1-x86-64.raw and .roothash; on a node: /var/lib/confexts/site.raw and site.roothash,
      then systemd-confext refresh (systemd 254 merges /etc read-only while a confext is merged)
  imgbuild confext build --from-dir ./site --name site --version 2 --sysupdate ./release --sysupdate-source https://example.org/site/`,
    )
    .action(act(lazy('sysext', 'confextBuild')));

  program
    .command('qemu')
    .description('boot an image (or qemu_uefi bundle) under qemu with OVMF and report the boot marker')
    .argument('<image>', 'raw image, qcow2, or qemu_uefi bundle folder')
    .option('--timeout <seconds>', 'give up after this long', positive('--timeout'), 300)
    .option('--log <file>', 'write the serial console here')
    .option('--memory <MiB>', 'guest memory', positive('--memory'), 512)
    .option('--smp <n>', 'guest CPUs (qemu -smp; multi-threaded TCG boots a systemd OS about 30 % faster with 2)', integer('--smp', { min: 1, max: 64 }), 1)
    .option('--accel <accel>', 'qemu accelerator (tcg, or kvm:tcg)', 'tcg')
    .option('--allow-reset [n]', 'let the machine reset (kernel panic, watchdog, dm-verity) so the selector falls back within one run; with n, stop after more than n resets (failure reset-limit); without, --timeout bounds it', integer('--allow-reset'))
    .option('--no-watchdog', "give the guest no i6300esb watchdog (it has one by default; an idle one does nothing until the guest arms it)")
    .option('--secure-boot', "OVMF's Secure Boot firmware (SMM); a raw image boots with Debian's snakeoil keys unless --enroll-cert (a bundle built with --secure-boot needs neither)")
    .option('--enroll-cert <cert.pem>', 'Secure Boot with a fresh vars file (OVMF\'s or AAVMF\'s layout) enrolling this certificate as PK, KEK and db')
    .addOption(archOption("the machine (arm64: qemu-system-aarch64 -M virt with AAVMF); default: the image's manifest, else its ESP's loader"))
    .option('--tpm', 'attach a TPM 2.0 (swtpm; its state kept in <image>.tpm/, or tpm/ inside a bundle), stopped with the machine (x86-64)')
    .option('--tpm-state <dir>', 'with a TPM: keep its state in this folder instead (implies --tpm)')
    .option('--ignition <config.ign>', 'an Ignition config (JSON, spec 3.0-3.3) for the first boot, as fw_cfg opt/com.coreos/config; checked before the boot')
    .option('--credential <NAME=VALUE>', 'a systemd credential for the guest (SMBIOS type 11 on x86-64, fw_cfg opt/io.systemd.credentials/NAME elsewhere); repeatable', (v: string, acc: string[] = []) => [...acc, v])
    .option('--json', 'machine-readable output')
    .addHelpText('after', examples('imgbuild qemu disk.raw', 'imgbuild qemu os.raw --ignition node.ign --memory 2048 --smp 2', 'imgbuild qemu os.raw --credential "ssh.authorized_keys.root=$(cat ~/.ssh/id_ed25519.pub)" --credential firstboot.timezone=Europe/Berlin', 'imgbuild qemu image_qemu_uefi --timeout 600 --log console.log', 'imgbuild qemu signed.raw --enroll-cert db.crt --json', 'imgbuild qemu disk.raw --allow-reset 3 --json   # self-healing: at most 3 resets', 'imgbuild qemu arm64.raw --secure-boot   # AAVMF and its snakeoil vars', 'imgbuild qemu disk.raw --tpm --log console.log'))
    .action(act(lazy('qemu')));

  program
    .command('attest')
    .description("check a node's attestation report (TPM quote over PCR 7 and 11, claims, event logs) against an image's manifest")
    .argument('<report>', "the JSON the node's /usr/lib/imgbuild/attest NONCE printed")
    .requiredOption('--manifest <file>', "the image's manifest (its PCR 11 predictions name the slot)")
    .requiredOption('--nonce <hex>', 'the nonce handed to the node for this report (16-64 hex digits, fresh each time)')
    .option('--ak <file>', "the node's attestation key (PEM): checked against when it exists, written on first use when it does not")
    .option('--pcr7 <hex>', 'the PCR 7 value expected (firmware and Secure Boot state), if known')
    .option('--extensions <list>', "the system extensions the node should have merged, comma-separated, or 'none'")
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      examples(
        'imgbuild attest report.json --manifest disk.raw.manifest.json --nonce $N --ak node1.ak.pem',
        '  (where N=$(openssl rand -hex 16); ssh node /usr/lib/imgbuild/attest $N > report.json)',
        'imgbuild attest report.json --manifest vm/vm.manifest.json --nonce $N --ak node1.ak.pem --json | jq .identity',
      ),
    )
    .action(act(lazy('attest')));

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  exitCode = 0;
  subject = undefined;
  try {
    await program.parseAsync(helpAsFlag(argv));
    return exitCode;
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version exit 0; any other commander complaint is a usage error, in one line
      if (e.exitCode === 0) return 0;
      if (e.code !== 'commander.help' && e.code !== 'commander.helpDisplayed') {
        process.stderr.write(`imgbuild: ${e.message.replace(/^error: /, '').split('\n')[0]} (see --help)\n`);
      }
      return EXIT_USAGE;
    }
    process.stderr.write(`imgbuild: ${errorLine(e, subject)}\n`);
    if (process.env.IMGBUILD_DEBUG) console.error(e);
    return exitCodeFor(e) ?? EXIT_FAILED;
  }
}

/**
 * `imgbuild help slot next` as `imgbuild slot next --help`: commander's help command looks only at its
 * first word, so it would print the help of `slot`.
 */
function helpAsFlag(argv: string[]): string[] {
  const words = argv.slice(2);
  if (words[0] !== 'help' || words.length < 3 || words.slice(1).some((w) => w.startsWith('-'))) return argv;
  return [...argv.slice(0, 2), ...words.slice(1), '--help'];
}

export { Option };
