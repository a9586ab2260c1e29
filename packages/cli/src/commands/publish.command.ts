/** `imgbuild publish`: the words; the work is in publish.ts. */
import type { Command } from 'commander';
import { examples, lazy } from '../action.js';
import { OPTIONS } from '../options.js';

export function declarePublish(program: Command): void {
  program
    .command('publish')
    .description('publish a /usr version into a channel of an update feed (signed SHA256SUMS) that systemd-sysupdate on the nodes reads')
    .argument('<feed>', 'the feed folder a static HTTP server serves (created when missing)')
    .requiredOption('--channel <name>', 'the channel: a folder of the feed (stable, beta, ...)')
    .requiredOption('--base <image>', 'the image the nodes run (versioned slots: --layout sysupdate): its layout, ROOT, command line, kernel and initrd')
    .requiredOption('--from <squashfs>', 'the /usr of the version; its IMAGE_VERSION (or VERSION_ID) is the version')
    .option('--kernel <vmlinuz>', "new kernel (default: the base image's running slot's)")
    .option('--initrd <initrd>', "new initramfs (default: the base image's running slot's)")
    .requiredOption('--gpg-key <id>', "the OpenPGP key that signs SHA256SUMS (its public key is the OS's import-pubring.gpg)")
    .option('--gpg-homedir <dir>', "GNUPGHOME holding --gpg-key (default: gpg's own)")
    .addOption(OPTIONS.json())
    .addHelpText(
      'after',
      examples(
        'imgbuild publish feed/ --channel stable --base os.raw --from usr-v2.squashfs --gpg-key releases@example.org',
        'imgbuild publish feed/ --channel beta --base os.raw --from usr-v3.squashfs --kernel vmlinuz --initrd initrd.img --gpg-key ABCD1234 --gpg-homedir keys/ --json',
      ),
    )
    .action(lazy(() => import('./publish.js')));
}
