/**
 * Every imgbuild command in one list. Each action lazily imports `commands/<name>.js`, so a command
 * only loads what it uses; one catch maps errors to exit codes (0 ok, 1 failed, 2 usage).
 */
import { Command, CommanderError, Option } from 'commander';
import { EXIT_FAILED, EXIT_USAGE, errorLine, exitCodeFor } from './output.js';

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

export function buildProgram(): Command {
  const program = new Command('imgbuild')
    .description('Build immutable-OS disk images: GPT with USR-A/USR-B slots, dm-verity, A/B updates with rollback')
    .version('0.1.0')
    // Commander's own complaints (unknown command or option, bad choice, missing argument) are usage
    // errors: main() prints them as our one line, so commander itself prints none. Inherited by every
    // subcommand, as is exitOverride.
    .configureOutput({ outputError: () => {} })
    .exitOverride()
    // The command's main path, for a system error that carries none (a read on a folder: EISDIR).
    .hook('preAction', (_program, action) => {
      subject = action.args[0] ?? action.opts().output;
    });

  const layout = program.command('layout').description('inspect declarative disk layouts');
  layout
    .command('show')
    .description('print the planned geometry of a layout (built-in name or JSON file)')
    .argument('<layout>', 'built-in layout (flatcar, flatcar-2025, mini) or a JSON file')
    .option('--json', 'machine-readable output')
    .action(act(lazy('layout', 'show')));
  layout.command('list').description('list the built-in layouts').option('--json', 'machine-readable output').action(act(lazy('layout', 'list')));

  const gpt = program.command('gpt').description('create, inspect and repair GUID partition tables');
  gpt
    .command('create')
    .description('write a sparse disk image holding only the GPT of a layout')
    .requiredOption('--layout <layout>', 'built-in layout or JSON file')
    .option('--seed <seed>', 'seed for every GUID the layout does not fix (default: derived from the layout)')
    .requiredOption('-o, --output <file>', 'image to create')
    .option('--force', 'replace an existing regular file (a directory, device, FIFO or socket is never replaced)')
    .option('--json', 'machine-readable output')
    .action(act(lazy('gpt', 'create')));
  gpt
    .command('show')
    .description('print the partition table as read, with attribute bits decoded')
    .argument('<image>', 'disk image')
    .option('--json', 'machine-readable output')
    .action(act(lazy('gpt', 'show')));
  gpt
    .command('repair')
    .description('rewrite a damaged GPT copy (primary or backup) from the good one')
    .argument('<image>', 'disk image')
    .option('--json', 'machine-readable output')
    .action(act(lazy('gpt', 'repair')));

  const verity = program.command('verity').description('dm-verity hash trees, byte-identical to veritysetup');
  verity
    .command('format')
    .description('compute the hash tree of <data> and write it to <hashfile> or after the data at --hash-offset')
    .argument('<data>', 'data file (or image)')
    .argument('[hashfile]', 'separate hash file (default: same file as the data, at --hash-offset)')
    .option('--hash-offset <bytes>', 'byte offset of the hash area in the hash file')
    .option('--data-offset <bytes>', 'byte offset of the data area in the data file', '0')
    .option('--data-blocks <n>', 'number of data blocks (default: the whole data file)')
    .option('--salt <hex|->', 'salt in hex, or - for none (default: derived from --seed, or random)')
    .option('--seed <seed>', 'derive salt and UUID from this seed (reproducible)')
    .option('--no-superblock', 'do not write the verity superblock')
    .option('--hash <alg>', 'sha256, sha512 or sha1', 'sha256')
    .option('--format <type>', 'hash type: 1 normal, 0 Chrome OS', '1')
    .option('--data-block-size <n>', 'data block size', '4096')
    .option('--hash-block-size <n>', 'hash block size', '4096')
    .option('--uuid <uuid>', 'superblock UUID')
    .option('--pad', 'accept data whose size is not a multiple of the block size (the last block is zero padded)')
    .option('-j, --jobs <n>', 'worker threads (default: number of cores)')
    .option('--force', 'write into an existing file: the HASHFILE, or, without one, DATA itself (the tree is appended to it, or written at --hash-offset)')
    .option('--json', 'machine-readable output')
    .addHelpText(
      'after',
      `
Without HASHFILE the hash area goes into DATA itself, which changes your input: that needs --force.
  imgbuild verity format usr.squashfs usr.hash              tree in a new file; usr.squashfs untouched
  imgbuild verity format usr.squashfs --force               tree appended to usr.squashfs (it grows)
  imgbuild verity format disk.img --data-blocks N --hash-offset B --force   tree inside disk.img at B`,
    )
    .action(act(lazy('verity', 'format')));
  program
    .command('verity-verify')
    .description('check data against its hash tree and root hash (parameters from the superblock)')
    .argument('<data>', 'data file, or a disk image with --slot')
    .requiredOption('--root-hash <hex>', 'expected root hash')
    .option('--hash-file <file>', 'separate hash file')
    .option('--hash-offset <bytes>', 'byte offset of the hash area (same file as the data)')
    .option('--slot <slot>', 'on a disk image: the USR slot (A, B, USR-A or a partition number)')
    .option('--data-blocks <n>', 'data blocks (needed with --no-superblock)')
    .option('--no-superblock', 'the hash area has no superblock (give every parameter)')
    .option('--salt <hex|->', 'salt (only with --no-superblock)')
    .option('--hash <alg>', 'hash algorithm (only with --no-superblock)', 'sha256')
    .option('--data-block-size <n>', 'data block size (only with --no-superblock)', '4096')
    .option('--hash-block-size <n>', 'hash block size (only with --no-superblock)', '4096')
    .option('-j, --jobs <n>', 'worker threads (default: number of cores)')
    .option('--json', 'machine-readable output')
    .action(act(lazy('verity', 'verify')));

  program
    .command('build')
    .description('build a bootable A/B disk image from a /usr squashfs')
    .option('--from <squashfs>', '/usr filesystem image (squashfs or erofs)')
    .option('--from-dir <dir>', 'a /usr tree to pack with mksquashfs (reproducibly)')
    .requiredOption('--kernel <vmlinuz>', 'kernel image (bzImage with EFI stub)')
    .requiredOption('--initrd <initrd>', "initramfs for slot A's UKI (it opens the /usr its command line names)")
    .option('--layout <layout>', 'built-in layout or JSON file', 'mini')
    .addOption(new Option('--format <format>', 'output format').choices(['raw', 'qemu_uefi']).default('raw'))
    .option('--seed <seed>', 'seed for every GUID, salt and volume id (default: derived from the inputs)')
    .option('--cmdline <args>', 'extra kernel command line arguments', '')
    .option('--root-tree <dir>', "format the layout's ROOT (role root) as ext4 from this tree (/etc, /var, an empty usr/) and boot with root= on it")
    .addOption(new Option('--boot-style <style>', 'extra boot files').choices(['uki', 'flatcar']).default('uki'))
    .option('--os-release <file>', "os-release embedded in slot A's UKI (default: a generic imgbuild one)")
    .option('--selector <efi>', 'UEFI slot selector to install as EFI/BOOT/BOOTX64.EFI (default: the one npm run build makes from packages/efi-select)')
    .option('-o, --output <path>', 'output image (raw) or folder (qemu_uefi); must not exist as a folder')
    .option('--force', 'replace an existing output file (raw image and its manifest); an existing folder, a qemu_uefi bundle included, is never replaced: remove it first')
    .option('--json', 'machine-readable output (the manifest)')
    .action(act(lazy('build')));

  program
    .command('verify')
    .description("prove an image holds what its manifest says: every slot through dm-verity, GPT, the UKI's command line and payloads")
    .argument('<image>', 'raw image or qemu_uefi bundle folder')
    .option('--manifest <file>', 'manifest to check against (default: <image>.manifest.json, or the bundle\'s)')
    .option('--json', 'machine-readable output')
    .action(act(lazy('verify')));

  program
    .command('update')
    .description('write a new /usr into the inactive slot, carry its root hash on the command line, and mark it to boot next (once)')
    .argument('<image>', 'raw image or qemu_uefi bundle folder')
    .requiredOption('--from <squashfs>', 'new /usr filesystem image')
    .option('--kernel <vmlinuz>', 'new kernel (default: keep the one in the image)')
    .option('--initrd <initrd>', 'new initramfs (default: keep the one in the image)')
    .option('--json', 'machine-readable output')
    .action(act(lazy('update')));

  const slot = program.command('slot').description('inspect and change the A/B slot attributes (priority, tries, successful)');
  slot.command('status').description('per slot priority, tries, successful, bootable; which boots next; which GPT copy was read').argument('<image>').option('--json', 'machine-readable output').action(act(lazy('slot', 'status')));
  slot
    .command('next')
    .description('perform one boot-time selection on the image as firmware would (decrements tries) and print the chosen slot')
    .argument('<image>')
    .addOption(new Option('--variant <variant>', 'selection rules').choices(['flatcar', 'chromeos']).default('flatcar'))
    .option('--json', 'machine-readable output')
    .action(act(lazy('slot', 'next')));
  const emptyForce = 'skip the guards: act on a slot that holds no /usr (no verity superblock at its hash offset, or no root hash in the manifest beside the image)';
  slot
    .command('prioritize')
    .description(
      "make a slot boot next (cgpt's prioritize: it gets the top priority). Refused when the slot holds no /usr, or cannot boot (tries 0 and successful 0: use `slot upgrade` to boot it once, or `slot set --tries N`)",
    )
    .argument('<image>')
    .argument('<slot>', 'A, B, USR-A or a partition number')
    .option('--force', `${emptyForce}, or cannot boot (exactly cgpt prioritize)`)
    .option('--json', 'machine-readable output')
    .action(act(lazy('slot', 'prioritize')));
  slot
    .command('mark-successful')
    .description('mark a slot as booted successfully (successful 1, tries 0, prioritized). Refused when the slot holds no /usr')
    .argument('<image>')
    .argument('<slot>')
    .option('--force', emptyForce)
    .option('--json', 'machine-readable output')
    .action(act(lazy('slot', 'markSuccessful')));
  slot.command('upgrade').description('mark the slot as freshly written (successful 0, tries 1, prioritized)').argument('<image>').argument('<slot>').option('--json', 'machine-readable output').action(act(lazy('slot', 'upgrade')));
  slot.command('rollback').description('make the other slot boot next (it must be bootable)').argument('<image>').option('--json', 'machine-readable output').action(act(lazy('slot', 'rollback')));
  slot.command('cancel-upgrade').description('undo a pending upgrade: the active slot boots next again').argument('<image>').option('--json', 'machine-readable output').action(act(lazy('slot', 'cancelUpgrade')));
  slot
    .command('set')
    .description('set raw slot bits. Refused when it would make a slot that holds no /usr bootable')
    .argument('<image>')
    .argument('<slot>')
    .option('--priority <n>', 'priority 0-15')
    .option('--tries <n>', 'tries 0-15')
    .option('--successful <0|1>', 'successful bit')
    .option('--force', emptyForce)
    .option('--json', 'machine-readable output')
    .action(act(lazy('slot', 'set')));

  program
    .command('qemu')
    .description('boot an image (or qemu_uefi bundle) under qemu with OVMF and report the boot marker')
    .argument('<image>', 'raw image, qcow2, or qemu_uefi bundle folder')
    .option('--timeout <seconds>', 'give up after this long', '300')
    .option('--log <file>', 'write the serial console here')
    .option('--memory <MiB>', 'guest memory', '512')
    .option('--smp <n>', 'guest CPUs (qemu -smp; multi-threaded TCG boots a systemd OS about 30 % faster with 2)', '1')
    .option('--accel <accel>', 'qemu accelerator (tcg, or kvm:tcg)', 'tcg')
    .option('--allow-reset', 'let the machine reset (kernel panic, watchdog) so the selector falls back within one run; bound it with --timeout')
    .option('--json', 'machine-readable output')
    .action(act(lazy('qemu')));

  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  exitCode = 0;
  subject = undefined;
  try {
    await program.parseAsync(argv);
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

export { Option };
