import { assertWritableTarget, buildImage, formatBytes, isLegacyBoot, planBuild, signingFilesFromFlags, type BuildOptions, type BuildPlan, type ImageManifest } from '@imgbuild/core';
import { checkLayoutArg } from '../args.js';
import { printJson, progressBar } from '../output.js';
import { archOf } from '../arch-option.js';

interface Opts {
  from?: string;
  fromDir?: string;
  kernel: string;
  initrd: string;
  arch?: string;
  layout: string;
  format: 'raw' | 'qemu_uefi';
  seed?: string;
  cmdline: string;
  rootTree?: string;
  bootStyle: 'uki' | 'flatcar';
  osRelease?: string;
  selector?: string;
  signKey?: string;
  signCert?: string;
  signPassFile?: string;
  secureBoot?: boolean;
  imageSha256?: boolean;
  output?: string;
  force?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

export async function run(opts: Opts): Promise<void> {
  await checkLayoutArg(opts.layout);
  const output = opts.output ?? (opts.format === 'qemu_uefi' ? 'image_qemu_uefi' : 'image.raw');
  // Before minutes of work: an output we may not replace (a folder, a device; a file without --force)
  // is refused now. The library checks again before its final rename.
  await assertWritableTarget(output, !!opts.force);
  const progress = progressBar(!opts.json && !opts.dryRun);
  const o: BuildOptions = {
    from: opts.from,
    fromDir: opts.fromDir,
    kernel: opts.kernel,
    initrd: opts.initrd,
    arch: archOf(opts.arch),
    layout: opts.layout,
    format: opts.format,
    seed: opts.seed,
    cmdline: opts.cmdline,
    rootTree: opts.rootTree,
    bootStyle: opts.bootStyle,
    osRelease: opts.osRelease,
    selector: opts.selector,
    sign: signingFilesFromFlags(opts),
    secureBoot: opts.secureBoot,
    imageSha256: opts.imageSha256,
    output,
    force: opts.force,
    onProgress: progress,
  };
  if (opts.dryRun) return printPlan(await planBuild(o), !!opts.json);
  try {
    const r = await buildImage(o);
    progress.finish();
    if (opts.json) return printJson({ output: r.output, manifestPath: r.manifestPath, ...r.manifest });
    const a = r.manifest.slots.A!;
    process.stdout.write(
      [
        `built ${r.output} (${opts.format}, ${r.manifest.architecture ?? 'x86-64'}, layout ${r.manifest.layout})`,
        `  USR-A root hash ${a.rootHash}`,
        `  hash offset ${a.hashOffset} bytes into PARTUUID=${a.partuuid}`,
        ...(r.manifest.rootFs ? [`  ROOT: ext4 from ${r.manifest.rootFs.tree} on PARTUUID=${r.manifest.rootFs.partuuid} (root=, rw)`] : []),
        `  ESP: ${espSummary(r.manifest.boot)}`,
        `  ${'signing' in r.manifest.boot && r.manifest.boot.signing ? `signed: certificate sha256 ${r.manifest.boot.signing.certSha256}${opts.secureBoot ? ' (enrolled in the bundle\'s UEFI vars: Secure Boot on)' : ''}` : 'unsigned'}`,
        `  image digest ${r.manifest.image.digest?.rootHash} (${r.manifest.image.digest?.algorithm})`,
        ...(r.manifest.image.sha256 ? [`  image sha256 ${r.manifest.image.sha256}`] : []),
        `  manifest ${r.manifestPath}`,
      ].join('\n') + '\n',
    );
  } finally {
    progress.finish();
  }
}

/** `build --dry-run`: what would be written where; nothing is. */
function printPlan(p: BuildPlan, json: boolean): void {
  if (json) return printJson(p);
  const lines = [
    `build (dry run: nothing written): layout ${p.layout.name}, ${p.format}, ${p.architecture}, ${formatBytes(p.layout.diskBytes)}`,
    ...p.layout.partitions.map(
      (q) => `  ${String(q.number).padStart(2)} ${q.label.padEnd(12)} ${q.role.padEnd(9)} LBA ${q.firstLba}-${q.lastLba} (${formatBytes(q.sizeBytes)})${q.number === p.partition.number ? `  <- slot ${p.slot}: ${p.usr.path}, ${p.usr.fsType}, ${p.usr.bytes} bytes` : ''}`,
    ),
    `  ESP files${p.signed ? ' (signed)' : ''}:`,
    ...p.espFiles.map((f) => `    ${f.path} (${f.bytes} bytes)`),
    '  would write:',
    ...p.files.map((f) => `    ${f}`),
  ];
  process.stdout.write(lines.join('\n') + '\n');
}

function espSummary(b: ImageManifest['boot']): string {
  if (isLegacyBoot(b)) return b.espPath;
  return `${b.selector.path} (slot selector), ${b.slots.A?.uki} (slot A)`;
}
