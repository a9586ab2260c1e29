/** `imgbuild verity format` and `imgbuild verity-verify`: the words; the work is in verity.ts. */
import type { Command } from 'commander';
import { examples, lazy } from '../action.js';
import { OPTIONS } from '../options.js';
import { EXIT_USAGE } from '../output.js';
import { integer } from '../parse.js';

const load = () => import('./verity.js');

export function declareVerity(program: Command): void {
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
    .addOption(OPTIONS.dataBlockSize())
    .addOption(OPTIONS.hashBlockSize())
    .option('--uuid <uuid>', 'superblock UUID')
    .option('--pad', 'accept data whose size is not a multiple of the block size (the last block is zero padded)')
    .addOption(OPTIONS.jobs())
    .option('--force', 'write into an existing file: the HASHFILE, or, without one, DATA itself (the tree is appended to it, or written at --hash-offset)')
    .addOption(OPTIONS.json())
    .addHelpText(
      'after',
      `
Without HASHFILE the hash area goes into DATA itself, which changes your input: that needs --force.
Examples:
  imgbuild verity format usr.squashfs usr.hash              tree in a new file; usr.squashfs untouched
  imgbuild verity format usr.squashfs --force               tree appended to usr.squashfs (it grows)
  imgbuild verity format disk.img --data-blocks N --hash-offset B --force   tree inside disk.img at B`,
    )
    .action(lazy(load, 'format'));
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
    .addOption(OPTIONS.dataBlockSize('data block size (only with --no-superblock)'))
    .addOption(OPTIONS.hashBlockSize('hash block size (only with --no-superblock)'))
    .addOption(OPTIONS.jobs())
    .addOption(OPTIONS.json())
    .addHelpText(
      'after',
      examples(
        'imgbuild verity-verify usr.squashfs --hash-file usr.hash --root-hash <hex>',
        'imgbuild verity-verify disk.raw --slot A --root-hash "$(jq -r .slots.A.rootHash disk.raw.manifest.json)"',
        'imgbuild verity-verify image_qemu_uefi --slot B --root-hash <hex> --json',
      ),
    )
    .action(lazy(load, 'verify'));
}
