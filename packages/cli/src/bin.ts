#!/usr/bin/env node
import { main } from './program.js';

// `imgbuild verify img | head -1`: the reader went away. What is left to print goes nowhere, but the
// command runs to its end: its locks are released and its exit status stays what the work decided
// (a failed verify must never turn into 0 because nobody read the rest).
for (const stream of [process.stdout, process.stderr]) {
  let readerGone = false;
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE' && !readerGone) throw e;
    readerGone = true;
    stream.write = (() => true) as typeof stream.write;
  });
}

process.exitCode = await main(process.argv);
