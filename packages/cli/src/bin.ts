#!/usr/bin/env node
import { main } from './program.js';

// `imgbuild ... | head -1`: the reader went away, nothing more to say to anyone; leave quietly (like a
// shell tool killed by SIGPIPE) instead of crashing with an unhandled 'error' event and a stack.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
    throw e;
  });
}

process.exitCode = await main(process.argv);
