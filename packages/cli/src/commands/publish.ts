import { publishVersion } from '@imgbuild/core';
import { printJson, progressBar } from '../output.js';

interface PublishFlags {
  channel: string;
  base: string;
  from: string;
  kernel?: string;
  initrd?: string;
  gpgKey: string;
  gpgHomedir?: string;
  json?: boolean;
}

export async function run(feed: string, opts: PublishFlags): Promise<void> {
  const progress = progressBar(!opts.json);
  try {
    const r = await publishVersion({ feed, channel: opts.channel, base: opts.base, from: opts.from, kernel: opts.kernel, initrd: opts.initrd, gpg: { key: opts.gpgKey, homedir: opts.gpgHomedir }, onProgress: progress });
    progress.finish();
    if (opts.json) return printJson(r);
    process.stdout.write(
      [
        `published ${r.label} to ${feed}/${r.channel} (${r.generation})`,
        `  root hash ${r.rootHash}, slot PARTUUID ${r.partuuid}`,
        `  ${r.files.payload} (${r.payloadBytes} bytes; ${r.payloadUncompressedBytes} in the slot), ${r.files.uki}, ${r.files.manifest}`,
        `  SHA256SUMS signed by ${r.keyFingerprint}`,
      ].join('\n') + '\n',
    );
  } finally {
    progress.finish();
  }
}
