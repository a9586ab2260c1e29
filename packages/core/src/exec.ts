/**
 * execa, loaded on first use. Importing it costs about 60 ms of start-up, which the commands that
 * never run a tool (verity, gpt, slot) should not pay: for `verity format` of 1 GiB that is a tenth of
 * the whole run.
 */
import type { execa as ExecaFn } from 'execa';

let loaded: Promise<typeof ExecaFn> | undefined;

export const execa = (async (...args: Parameters<typeof ExecaFn>) => {
  loaded ??= import('execa').then((m) => m.execa);
  return (await loaded as (...a: unknown[]) => unknown)(...args);
}) as unknown as typeof ExecaFn;
