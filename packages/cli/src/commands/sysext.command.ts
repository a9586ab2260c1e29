/** `imgbuild sysext build` and `imgbuild confext build`: the words; the work (one pipeline, two targets) is in sysext.ts. */
import { Option, type Command } from 'commander';
import { examples, lazy } from '../action.js';
import { archOption, OPTIONS } from '../options.js';

export function declareSysext(program: Command): void {
  const sysext = program
    .command('sysext')
    .description('system extension images for systemd-sysext, and their systemd-sysupdate release files')
    .addHelpText('after', examples('imgbuild sysext build --from-dir ./hello --name hello --version 1.0'));
  const build = sysext
    .command('build')
    .description('pack a usr/ (and opt/) tree into NAME-VERSION-ARCH.raw (ARCH: x86-64 or arm64): a DDI (GPT with root + root-verity, and NAME-VERSION-ARCH.roothash beside it) or a plain squashfs')
    .requiredOption('--from-dir <dir>', 'folder holding usr/ (and opt/); nothing else may be at its top');
  extensionOptions(build, 'sysext')
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
    .action(lazy(() => import('./sysext.js'), 'build'));
}

export function declareConfext(program: Command): void {
  const confext = program
    .command('confext')
    .description('configuration extension images for systemd-confext (merged over /etc), and their systemd-sysupdate release files')
    .addHelpText('after', examples('imgbuild confext build --from-dir ./site --name site --version 1 --os-id debian --os-version-id 12'));
  const build = confext
    .command('build')
    .description('pack an etc/ tree into NAME-VERSION-ARCH.raw: a DDI (GPT with root + root-verity, NAME-VERSION-ARCH.roothash beside it) or a plain squashfs, with etc/extension-release.d/extension-release.NAME')
    .requiredOption('--from-dir <dir>', 'folder holding etc/; nothing else may be at its top');
  extensionOptions(build, 'confext')
    .addHelpText(
      'after',
      `
Examples:
  imgbuild confext build --from-dir ./site --name site --version 1 --os-id debian --os-version-id 12
      writes site-1-x86-64.raw and .roothash; on a node: /var/lib/confexts/site.raw and site.roothash,
      then systemd-confext refresh (systemd 254 merges /etc read-only while a confext is merged)
  imgbuild confext build --from-dir ./site --name site --version 2 --sysupdate ./release --sysupdate-source https://example.org/site/`,
    )
    .action(lazy(() => import('./sysext.js'), 'confextBuild'));
}

/** The options both kinds share; the level and the transfers' target are named by kind. */
function extensionOptions(cmd: Command, kind: 'sysext' | 'confext'): Command {
  const level = kind === 'sysext' ? 'SYSEXT_LEVEL' : 'CONFEXT_LEVEL';
  const target = kind === 'sysext' ? '' : ' to /var/lib/confexts';
  return cmd
    .requiredOption('--name <name>', 'extension name (extension-release.NAME, the file and sysupdate names)')
    .requiredOption('--version <version>', 'extension version (letters, digits, . _ + ~ ^ -)')
    .option('--os-id <id>', 'host os-release ID= the extension is for, or _any', '_any')
    .option(`--${kind}-level <level>`, `${level}= the host must have`)
    .option('--os-version-id <v>', `VERSION_ID= the host must have (when it sets no ${level}=)`)
    .addOption(archOption('the machine the extension is for (ARCHITECTURE=, the file name, the DDI partition types)', 'x86-64'))
    .addOption(new Option('--fs <fs>', 'filesystem in the image').choices(['squashfs', 'erofs']).default('squashfs'))
    .addOption(new Option('--format <format>', 'ddi: GPT with root + root-verity; squashfs: the bare filesystem').choices(['ddi', 'squashfs']).default('ddi'))
    .option('-o, --output <file>', 'output file (default NAME-VERSION-ARCH.raw here)')
    .option('--sysupdate <dir>', `publish into this release folder: the .raw and .roothash, NAME.conf and NAME.roothash.conf (sysupdate transfers${target}), SHA256SUMS`)
    .option('--sysupdate-source <url|dir>', 'where nodes fetch releases from: an http(s) URL (url-file) or a folder (regular-file); default the --sysupdate folder')
    .option('--seed <seed>', 'seed for the verity salt and UUIDs (default: the digest of the tree)')
    .option('--force', 'replace an existing output file (and a transfer file with other contents)')
    .addOption(OPTIONS.json());
}
