/**
 * The program: the root command, the list of commands, and one catch that maps errors to exit codes
 * (0 ok, 1 failed, 2 usage). Each command's words (arguments, options, help) are declared in
 * `commands/<name>.command.ts`; its work is in `commands/<name>.ts`, imported only when the command
 * runs. Options that several commands take are written once, in options.ts.
 */
import { Command, CommanderError } from 'commander';
import { actionExitCode, examples, resetActionExitCode } from './action.js';
import { EXIT_FAILED, EXIT_USAGE, errorLine, exitCodeFor } from './output.js';
import { CLI_VERSION } from './version.js';
import { declareAttest } from './commands/attest.command.js';
import { declareBuild } from './commands/build.command.js';
import { declareGpt } from './commands/gpt.command.js';
import { declareLayout } from './commands/layout.command.js';
import { declarePublish } from './commands/publish.command.js';
import { declareQemu } from './commands/qemu.command.js';
import { declareSign } from './commands/sign.command.js';
import { declareSlot } from './commands/slot.command.js';
import { declareConfext, declareSysext } from './commands/sysext.command.js';
import { declareUpdate } from './commands/update.command.js';
import { declareVerify } from './commands/verify.command.js';
import { declareVerity } from './commands/verity.command.js';

let subject: string | undefined;

/** Every command, in the order `imgbuild --help` lists them; each declares its own words. */
const COMMANDS: ReadonlyArray<(program: Command) => void> = [
  declareLayout,
  declareGpt,
  declareVerity,
  declareBuild,
  declareVerify,
  declareUpdate,
  declarePublish,
  declareSign,
  declareSlot,
  declareSysext,
  declareConfext,
  declareQemu,
  declareAttest,
];

export function buildProgram(): Command {
  const program = new Command('imgbuild')
    .description('Build immutable-OS disk images: GPT with USR-A/USR-B slots, dm-verity, A/B updates with rollback')
    .version(CLI_VERSION)
    // Program options only before the command: `sysext build --version V` is the extension's version.
    .enablePositionalOptions()
    // Commander's own complaints (unknown command or option, bad choice, missing argument) are usage
    // errors: main() prints them as our one line, so commander itself prints none. Inherited by every
    // subcommand, as is exitOverride.
    .configureOutput({ outputError: () => {} })
    .exitOverride()
    .helpCommand('help [command...]', 'help for a command (help slot next)')
    // The command's main path, for a system error that carries none (a read on a folder: EISDIR).
    .hook('preAction', (_program, action) => {
      subject = action.args[0] ?? action.opts().output;
    })
    .addHelpText(
      'after',
      examples(
        'imgbuild build --from-dir examples/usr --kernel vmlinuz --initrd initrd.img -o disk.raw',
        'imgbuild verify disk.raw',
        'imgbuild update disk.raw --from usr-v2.squashfs && imgbuild slot status disk.raw',
        'imgbuild layout show flatcar --svg flatcar.svg',
        'imgbuild <command> --help      every option of one command',
      ),
    );

  for (const declare of COMMANDS) declare(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  resetActionExitCode();
  subject = undefined;
  try {
    await program.parseAsync(helpAsFlag(argv));
    return actionExitCode();
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

/**
 * `imgbuild help slot next` as `imgbuild slot next --help`: commander's help command looks only at its
 * first word, so it would print the help of `slot`.
 */
function helpAsFlag(argv: string[]): string[] {
  const words = argv.slice(2);
  if (words[0] !== 'help' || words.length < 3 || words.slice(1).some((w) => w.startsWith('-'))) return argv;
  return [...argv.slice(0, 2), ...words.slice(1), '--help'];
}

