import { mkdir } from 'node:fs/promises';
import { dirname, relative } from 'node:path';
import { assertWritableTarget, buildFromConfig, formatBytes, isLegacyBoot, type BuildPlan, type BuildResult, type ImageManifest } from '@imgbuild/core';
import { checkLayoutArg } from '../args.js';
import { printJson, progressBar } from '../output.js';
import { buildConfiguration, type BuildFlags } from '../build-config.js';

interface Opts extends BuildFlags {
  config?: string;
  printConfig?: boolean;
  force?: boolean;
  dryRun?: boolean;
  json?: boolean;
}

export async function run(opts: Opts): Promise<void> {
  if (opts.layout !== undefined) await checkLayoutArg(opts.layout);
  const { config, loaded } = await buildConfiguration(opts);
  if (opts.printConfig) return printJson(config);
  const output = config.outputs.path;
  // A build file declares where its image goes: that folder is made when missing (flags alone: it must exist).
  if (loaded && !opts.dryRun) await mkdir(dirname(output), { recursive: true });
  // Before minutes of work: an output we may not replace (a folder, a device; a file without --force)
  // is refused now. The library checks again before its final rename.
  await assertWritableTarget(output, !!opts.force);
  const progress = progressBar(!opts.json && !opts.dryRun);
  const built = buildFromConfig(config, {
    file: loaded?.file,
    baseDir: loaded?.dir ?? '.',
    force: opts.force,
    dryRun: opts.dryRun,
    onProgress: progress,
    // a recipe's progress on stderr, as the build's own; with --json stdout stays the one document
    recipeLog: true,
  });
  if (opts.dryRun) return printPlan((await built) as BuildPlan, !!opts.json);
  try {
    const r = (await built) as BuildResult;
    progress.finish();
    if (opts.json) return printJson({ output: r.output, manifestPath: r.manifestPath, ...r.manifest });
    const a = r.manifest.slots.A!;
    process.stdout.write(
      [
        `built ${shown(r.output)} (${config.outputs.format}, ${r.manifest.architecture ?? 'x86-64'}, layout ${r.manifest.layout})`,
        `  USR-A root hash ${a.rootHash}`,
        `  hash offset ${a.hashOffset} bytes into PARTUUID=${a.partuuid}`,
        ...(r.manifest.rootFs ? [`  ROOT: ext4 from ${r.manifest.rootFs.tree} on PARTUUID=${r.manifest.rootFs.partuuid} (root=, rw)`] : []),
        ...(config.extensions.length ? [`  extensions in ROOT: ${config.extensions.map((e) => `${e.name} ${e.version}`).join(', ')}`] : []),
        `  ESP: ${espSummary(r.manifest.boot)}`,
        `  ${'signing' in r.manifest.boot && r.manifest.boot.signing ? `signed: certificate sha256 ${r.manifest.boot.signing.certSha256}${config.signing.secureBoot ? ' (enrolled in the bundle\'s UEFI vars: Secure Boot on)' : ''}` : 'unsigned'}`,
        `  image digest ${r.manifest.image.digest?.rootHash} (${r.manifest.image.digest?.algorithm})`,
        ...(r.manifest.image.sha256 ? [`  image sha256 ${r.manifest.image.sha256}`] : []),
        `  manifest ${shown(r.manifestPath)}`,
        ...(loaded ? [`  configuration from ${loaded.file} (recorded in the manifest)`] : []),
      ].join('\n') + '\n',
    );
  } finally {
    progress.finish();
  }
}

/** A path under the current folder as a relative one; others as they are. */
function shown(p: string): string {
  const r = relative('.', p);
  return r.startsWith('..') || r === '' ? p : r;
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
