/** `imgbuild verify`: the words; the work is in verify.ts. */
import type { Command } from 'commander';
import { examples, lazy } from '../action.js';
import { BUILT_IMAGE_ARG, OPTIONS } from '../options.js';

export function declareVerify(program: Command): void {
  program
    .command('verify')
    .description("prove an image holds what its manifest says: every slot through dm-verity, GPT, the UKI's command line and payloads")
    .argument('<image>', BUILT_IMAGE_ARG)
    .option('--manifest <file>', 'manifest to check against (default: <image>.manifest.json, or the bundle\'s)')
    .option('--cert <cert.pem>', 'check the Secure Boot signatures against this certificate (default: the manifest\'s fingerprint)')
    .option('--feed-manifest <file>', "an image updated on the node (systemd-sysupdate): the feed's manifest of a version it installed; repeat for each", (v: string, prev: string[] = []) => [...prev, v])
    .addOption(OPTIONS.json())
    .addHelpText('after', examples('imgbuild verify disk.raw', 'imgbuild verify node.raw --feed-manifest feed/stable/imgbuild_2.manifest.json', 'imgbuild verify image_qemu_uefi --json | jq \'.checks[] | select(.ok == false)\'', 'imgbuild verify disk.raw --manifest release.manifest.json --cert db.crt'))
    .action(lazy(() => import('./verify.js')));
}
