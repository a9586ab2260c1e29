#!/usr/bin/env node
/**
 * Writes the example OS's systemd-sysupdate transfer templates and its efi.mount into os/files/usr/,
 * generated from the `sysupdate` layout by packages/core/src/feed/transfers.ts (the one source of the
 * labels, patterns and partition type). Run after changing either; test/feed.test.ts fails while the
 * committed files differ. Needs `npm run build` first.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadLayout, sysupdateTransfers } from '../packages/core/dist/index.js';

export const OS_USR = join(dirname(fileURLToPath(import.meta.url)), '../os/files/usr');
export const OS_LAYOUT = 'sysupdate';

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const f of sysupdateTransfers(await loadLayout(OS_LAYOUT))) {
    const path = join(OS_USR, f.path);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, f.text);
    console.log(`wrote ${path}`);
  }
}
