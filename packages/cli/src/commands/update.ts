import { signingFilesFromFlags, slotStatusRecord, updateImage } from '@imgbuild/core';
import { checkImageArg } from '../args.js';
import { printJson, progressBar } from '../output.js';
import { archOf } from '../arch-option.js';

interface UpdateFlags {
  from: string;
  kernel?: string;
  initrd?: string;
  arch?: string;
  signKey?: string;
  signCert?: string;
  signPassFile?: string;
  dryRun?: boolean;
  imageSha256?: boolean;
  json?: boolean;
}

export async function run(image: string, opts: UpdateFlags): Promise<void> {
  await checkImageArg(image, { bundle: true }); // a qcow2 or a stray folder, said plainly
  const progress = progressBar(!opts.json && !opts.dryRun);
  try {
    const r = await updateImage({ image, from: opts.from, kernel: opts.kernel, initrd: opts.initrd, arch: archOf(opts.arch), sign: signingFilesFromFlags(opts), dryRun: !!opts.dryRun, imageSha256: opts.imageSha256, onProgress: progress });
    progress.finish();
    if (opts.json) {
      // The slot verbs' shape (action, slot, changed, written, before, after), then what only an update has.
      return printJson({
        image,
        action: 'update',
        slot: r.slot,
        dryRun: r.dryRun,
        changed: true,
        written: r.written,
        before: slotStatusRecord(r.before),
        after: slotStatusRecord(r.after),
        rootHash: r.rootHash,
        plan: r.plan,
        manifestPath: r.manifestPath,
      });
    }
    const b = r.after.slots.find((s) => s.slot === r.slot)!;
    const bits = `priority ${b.priority}, tries ${b.tries}, successful ${b.successful ? 1 : 0}`;
    if (r.dryRun) {
      process.stdout.write(
        [
          `${image}: update (dry run: nothing written) would write slot ${r.slot} (${b.label}, partition ${b.number})`,
          `  /usr ${r.plan.usr.path} (${r.plan.usr.fsType}, ${r.plan.usr.bytes} bytes) and its verity tree`,
          `  kernel: ${r.plan.kernel}`,
          `  initrd: ${r.plan.initrd}`,
          `  ESP files: ${r.plan.espFiles.join(', ')}`,
          `  manifest: ${r.manifestPath}`,
          `  slot ${r.slot} after: ${bits} — would boot next, once`,
        ].join('\n') + '\n',
      );
      return;
    }
    process.stdout.write(
      [
        `updated ${image}: slot ${r.slot} (${b.label}) now holds ${opts.from}${opts.kernel || opts.initrd ? ' with its own kernel/initrd' : ''}`,
        `  root hash ${r.rootHash}`,
        `  slot ${r.slot}: ${bits} — boots next, once; the boot marks it successful or falls back`,
      ].join('\n') + '\n',
    );
  } finally {
    progress.finish();
  }
}
