/** `imgbuild sign`: the words; the work is in sign.ts. */
import type { Command } from 'commander';
import { examples, lazy } from '../action.js';
import { BUILT_IMAGE_ARG, OPTIONS } from '../options.js';

export function declareSign(program: Command): void {
  program
    .command('sign')
    .description("sign an existing image's slot selector and UKIs in place (Secure Boot), and record it in the manifest")
    .argument('<image>', BUILT_IMAGE_ARG)
    .requiredOption('--sign-key <key.pem>', 'the signing key (RSA)')
    .requiredOption('--sign-cert <cert.pem>', 'its certificate')
    .addOption(OPTIONS.signPassFile('an encrypted key'))
    .option('--force', 're-sign an image signed with another certificate (machines that enrolled the old one will refuse it)')
    .addOption(OPTIONS.json())
    .addHelpText('after', examples('imgbuild sign disk.raw --sign-key db.key --sign-cert db.crt', 'IMGBUILD_SIGN_PASS=... imgbuild sign image_qemu_uefi --sign-key db.key --sign-cert db.crt'))
    .action(lazy(() => import('./sign.js')));
}
