/**
 * How a command's words reach its work: the action module is imported when the command runs (so
 * `imgbuild verity format` loads only what the verity path uses), and the exit code it returns is
 * kept for main(). Shared by program.ts and every `commands/<name>.command.ts`.
 */
type Action = (...args: any[]) => Promise<number | void>;

let exitCode = 0;

/** The exit code the last action asked for (0 when none did); main() resets it before each parse. */
export function actionExitCode(): number {
  return exitCode;
}

export function resetActionExitCode(): void {
  exitCode = 0;
}

/**
 * An action taken from a module loaded when used: `load` is a literal `() => import('./x.js')`, so
 * the bundler makes one chunk per command module; `fn` names the export that does the work.
 */
export function lazy(load: () => Promise<Record<string, unknown>>, fn = 'run'): (...args: any[]) => Promise<void> {
  return async (...args: any[]) => {
    const mod = await load();
    const code = await (mod[fn] as Action)(...args);
    if (typeof code === 'number') exitCode = code;
  };
}

/** The Examples section every command's --help ends with. */
export function examples(...lines: string[]): string {
  return `\nExamples:\n${lines.map((l) => `  ${l}`).join('\n')}`;
}
