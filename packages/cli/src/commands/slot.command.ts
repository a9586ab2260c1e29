/** `imgbuild slot ...`: the words of the slot transitions; the work is in slot.ts. */
import { Option, type Command } from 'commander';
import { examples, lazy } from '../action.js';
import { IMAGE_ARG, OPTIONS } from '../options.js';
import { bit, integer } from '../parse.js';

const load = () => import('./slot.js');
const dryRun = 'print the slot state before and after, and write nothing';
const emptyForce = 'skip the guards: act on a slot that holds no /usr (no verity superblock at its hash offset, or no root hash in the manifest beside the image)';

export function declareSlot(program: Command): void {
  const slot = program
    .command('slot')
    .description('inspect and change the A/B slot attributes (priority, tries, successful)')
    .addHelpText('after', examples('imgbuild slot status disk.raw', 'imgbuild slot mark-successful disk.raw B', 'imgbuild slot rollback disk.raw --dry-run'));
  slot
    .command('status')
    .description('per slot priority, tries, successful, bootable; which boots next; which GPT copy was read')
    .argument('<image>', IMAGE_ARG)
    .addOption(OPTIONS.svg('also write a picture of the disk and its slots as SVG'))
    .addOption(OPTIONS.svgForce())
    .addOption(OPTIONS.json())
    .addHelpText('after', examples('imgbuild slot status disk.raw', 'imgbuild slot status image_qemu_uefi --json | jq -r .next', 'imgbuild slot status disk.raw --svg slots.svg'))
    .action(lazy(load, 'status'));
  slot
    .command('next')
    .description('perform one boot-time selection on the image as firmware would (decrements tries) and print the chosen slot')
    .argument('<image>', IMAGE_ARG)
    .addOption(new Option('--variant <variant>', 'selection rules').choices(['flatcar', 'chromeos']).default('flatcar'))
    .option('--dry-run', dryRun)
    .addOption(OPTIONS.json())
    .addHelpText('after', examples('imgbuild slot next disk.raw', 'imgbuild slot next disk.raw --variant chromeos --dry-run'))
    .action(lazy(load, 'next'));
  /** One slot transition: `<image> [<slot>]`, its own options, `--force` when guarded, `--dry-run`, `--json`. */
  const transition = (name: string, description: string, o: { slotArg?: boolean; options?: (c: Command) => Command; force?: string; examples: string[]; action: string }) => {
    let c = slot.command(name).description(description).argument('<image>', IMAGE_ARG);
    if (o.slotArg) c = c.argument('<slot>', 'A, B, USR-A or a partition number');
    if (o.options) c = o.options(c);
    if (o.force) c = c.option('--force', o.force);
    c.option('--dry-run', dryRun)
      .addOption(OPTIONS.json())
      .addHelpText('after', examples(...o.examples))
      .action(lazy(load, o.action));
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
}
