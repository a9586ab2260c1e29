/** `imgbuild attest`: the words; the work is in attest.ts. */
import type { Command } from 'commander';
import { examples, lazy } from '../action.js';
import { OPTIONS } from '../options.js';

export function declareAttest(program: Command): void {
  program
    .command('attest')
    .description("check a node's attestation report (TPM quote over PCR 7 and 11, claims, event logs) against an image's manifest")
    .argument('<report>', "the JSON the node's /usr/lib/imgbuild/attest NONCE printed")
    .requiredOption('--manifest <file>', "the image's manifest (its PCR 11 predictions name the slot)")
    .requiredOption('--nonce <hex>', 'the nonce handed to the node for this report (16-64 hex digits, fresh each time)')
    .option('--ak <file>', "the node's attestation key (PEM): checked against when it exists, written on first use when it does not")
    .option('--pcr7 <hex>', 'the PCR 7 value expected (firmware and Secure Boot state), if known')
    .option('--extensions <list>', "the system extensions the node should have merged, comma-separated, or 'none'")
    .addOption(OPTIONS.json())
    .addHelpText(
      'after',
      examples(
        'imgbuild attest report.json --manifest disk.raw.manifest.json --nonce $N --ak node1.ak.pem',
        '  (where N=$(openssl rand -hex 16); ssh node /usr/lib/imgbuild/attest $N > report.json)',
        'imgbuild attest report.json --manifest vm/vm.manifest.json --nonce $N --ak node1.ak.pem --json | jq .identity',
      ),
    )
    .action(lazy(() => import('./attest.js')));
}
