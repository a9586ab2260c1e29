import { assertWritableTarget, buildImage, isLegacyBoot, type BuildOptions, type ImageManifest } from '@imgbuild/core';
import { checkLayoutArg } from '../args.js';
import { printJson, progressBar } from '../output.js';

interface Opts {
  from?: string;
  fromDir?: string;
  kernel: string;
  initrd: string;
  layout: string;
  format: 'raw' | 'qemu_uefi';
  seed?: string;
  cmdline: string;
  rootTree?: string;
  bootStyle: 'uki' | 'flatcar';
  osRelease?: string;
  selector?: string;
  output?: string;
  force?: boolean;
  json?: boolean;
}

export async function run(opts: Opts): Promise<void> {
  await checkLayoutArg(opts.layout);
  const output = opts.output ?? (opts.format === 'qemu_uefi' ? 'image_qemu_uefi' : 'image.raw');
  // Before minutes of work: an output we may not replace (a folder, a device; a file without --force)
  // is refused now. The library checks again before its final rename.
  await assertWritableTarget(output, !!opts.force);
  const progress = progressBar(!opts.json);
  const o: BuildOptions = {
    from: opts.from,
    fromDir: opts.fromDir,
    kernel: opts.kernel,
    initrd: opts.initrd,
    layout: opts.layout,
    format: opts.format,
    seed: opts.seed,
    cmdline: opts.cmdline,
    rootTree: opts.rootTree,
    bootStyle: opts.bootStyle,
    osRelease: opts.osRelease,
    selector: opts.selector,
    output,
    force: opts.force,
    onProgress: progress,
  };
  try {
    const r = await buildImage(o);
    progress.finish();
    if (opts.json) return printJson({ output: r.output, manifestPath: r.manifestPath, ...r.manifest });
    const a = r.manifest.slots.A!;
    process.stdout.write(
      [
        `built ${r.output} (${opts.format}, layout ${r.manifest.layout})`,
        `  USR-A root hash ${a.rootHash}`,
        `  hash offset ${a.hashOffset} bytes into PARTUUID=${a.partuuid}`,
        ...(r.manifest.rootFs ? [`  ROOT: ext4 from ${r.manifest.rootFs.tree} on PARTUUID=${r.manifest.rootFs.partuuid} (root=, rw)`] : []),
        `  ESP: ${espSummary(r.manifest.boot)}`,
        `  image sha256 ${r.manifest.image.sha256}`,
        `  manifest ${r.manifestPath}`,
      ].join('\n') + '\n',
    );
  } finally {
    progress.finish();
  }
}

function espSummary(b: ImageManifest['boot']): string {
  if (isLegacyBoot(b)) return b.espPath;
  return `${b.selector.path} (slot selector), ${b.slots.A?.uki} (slot A)`;
}
