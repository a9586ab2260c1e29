/** `imgbuild gpt create|show|repair`: the words; the work is in gpt.ts. */
import type { Command } from 'commander';
import { examples, lazy } from '../action.js';
import { IMAGE_ARG, OPTIONS } from '../options.js';

const load = () => import('./gpt.js');

export function declareGpt(program: Command): void {
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
    .addOption(OPTIONS.json())
    .addHelpText('after', examples('imgbuild gpt create --layout mini -o disk.img', 'imgbuild gpt create --layout my-fleet.json --seed fleet-1 -o disk.img --force'))
    .action(lazy(load, 'create'));
  gpt
    .command('show')
    .description('print the partition table as read, with attribute bits decoded')
    .argument('<image>', IMAGE_ARG)
    .addOption(OPTIONS.svg('also write a picture of the disk as SVG'))
    .addOption(OPTIONS.svgForce())
    .addOption(OPTIONS.json())
    .addHelpText('after', examples('imgbuild gpt show disk.raw', 'imgbuild gpt show image_qemu_uefi --json', 'imgbuild gpt show disk.raw --svg disk.svg'))
    .action(lazy(load, 'show'));
  gpt
    .command('repair')
    .description('rewrite a damaged GPT copy (primary or backup) from the good one')
    .argument('<image>', IMAGE_ARG)
    .addOption(OPTIONS.json())
    .addHelpText('after', examples('imgbuild gpt repair disk.raw', 'imgbuild gpt show disk.raw --json | jq .gpt.needsRepair'))
    .action(lazy(load, 'repair'));
}
