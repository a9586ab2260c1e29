/** `imgbuild layout show|list`: the words; the work is in layout.ts. */
import type { Command } from 'commander';
import { examples, lazy } from '../action.js';
import { OPTIONS } from '../options.js';

const load = () => import('./layout.js');

export function declareLayout(program: Command): void {
  const layout = program
    .command('layout')
    .description('inspect declarative disk layouts')
    .addHelpText('after', examples('imgbuild layout list', 'imgbuild layout show flatcar --svg flatcar.svg'));
  layout
    .command('show')
    .description('print the planned geometry of a layout (built-in name or JSON file)')
    .argument('<layout>', 'built-in layout (flatcar, flatcar-2025, sysupdate, sysupdate-mini, mini) or a JSON file')
    .addOption(OPTIONS.svg('also write a picture of the layout as SVG'))
    .addOption(OPTIONS.svgForce())
    .addOption(OPTIONS.json())
    .addHelpText('after', examples('imgbuild layout show flatcar', 'imgbuild layout show my-fleet.json --json', 'imgbuild layout show mini --svg mini.svg'))
    .action(lazy(load, 'show'));
  layout
    .command('list')
    .description('list the built-in layouts')
    .addOption(OPTIONS.json())
    .addHelpText('after', examples('imgbuild layout list', 'imgbuild layout list --json | jq -r ".[].name"'))
    .action(lazy(load, 'list'));
}
