import { signingFilesFromFlags, updateImage } from '@imgbuild/core';
import { checkImageArg } from '../args.js';
import { printJson, progressBar } from '../output.js';

export async function run(image: string, opts: { from: string; kernel?: string; initrd?: string; signKey?: string; signCert?: string; signPassFile?: string; json?: boolean }): Promise<void> {
  await checkImageArg(image, { bundle: true }); // a qcow2 or a stray folder, said plainly
  const progress = progressBar(!opts.json);
  try {
    const r = await updateImage({ image, from: opts.from, kernel: opts.kernel, initrd: opts.initrd, sign: signingFilesFromFlags(opts), onProgress: progress });
    progress.finish();
    if (opts.json) return printJson({ image, slot: r.slot, rootHash: r.rootHash, before: r.before, after: r.after, manifestPath: r.manifestPath });
    const b = r.after.slots.find((s) => s.slot === r.slot)!;
    process.stdout.write(
      [
        `updated ${image}: slot ${r.slot} (${b.label}) now holds ${opts.from}${opts.kernel || opts.initrd ? ' with its own kernel/initrd' : ''}`,
        `  root hash ${r.rootHash}`,
        `  slot ${r.slot}: priority ${b.priority}, tries ${b.tries}, successful ${b.successful ? 1 : 0} — boots next, once; the boot marks it successful or falls back`,
      ].join('\n') + '\n',
    );
  } finally {
    progress.finish();
  }
}
