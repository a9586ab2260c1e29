/** `imgbuild sysext build` and `imgbuild confext build`: thin layers over buildSysext (one pipeline, two targets). */
import { buildSysext, extensionTarget, type ExtensionKind, type SysextFormat, type SysextFs } from '@imgbuild/core';
import { printJson } from '../output.js';
import { archOf } from '../arch-option.js';

interface BuildFlags {
  fromDir: string;
  name: string;
  version: string;
  osId: string;
  sysextLevel?: string;
  confextLevel?: string;
  osVersionId?: string;
  arch: string;
  fs: SysextFs;
  format: SysextFormat;
  output?: string;
  sysupdate?: string;
  sysupdateSource?: string;
  seed?: string;
  force?: boolean;
  json?: boolean;
}

export function build(opts: BuildFlags): Promise<void> {
  return buildExtension('sysext', opts);
}

/** `imgbuild confext build`. */
export function confextBuild(opts: BuildFlags): Promise<void> {
  return buildExtension('confext', opts);
}

async function buildExtension(kind: ExtensionKind, opts: BuildFlags): Promise<void> {
  const t = extensionTarget(kind);
  const r = await buildSysext({
    kind,
    fromDir: opts.fromDir,
    name: opts.name,
    version: opts.version,
    osId: opts.osId,
    sysextLevel: opts.sysextLevel,
    confextLevel: opts.confextLevel,
    osVersionId: opts.osVersionId,
    arch: archOf(opts.arch),
    fs: opts.fs,
    format: opts.format,
    output: opts.output,
    sysupdate: opts.sysupdate !== undefined ? { dir: opts.sysupdate, source: opts.sysupdateSource } : undefined,
    seed: opts.seed,
    force: !!opts.force,
  });
  if (opts.json) return printJson({ ...r, rootHash: r.rootHash ?? null, roothashFile: r.roothashFile ?? null, sysupdate: r.sysupdate ?? null });
  const out = process.stdout;
  out.write(`wrote ${r.output}: ${r.format === 'ddi' ? `DDI (${r.fs} + dm-verity)` : 'plain squashfs'}, ${r.bytes} bytes, sha256 ${r.sha256}\n`);
  if (r.rootHash) out.write(`root hash ${r.rootHash} (also in ${r.roothashFile}: ${t.tool} checks the image with dm-verity only with that file beside it)\n`);
  for (const p of r.partitions) out.write(`  ${p.number} ${p.label.padEnd(18)} ${p.uuid} ${p.bytes} bytes\n`);
  if (r.sysupdate) out.write(`published: ${[r.sysupdate.transfer, r.sysupdate.roothashTransfer].filter(Boolean).join(', ')}, ${r.sysupdate.sha256sums} (source ${r.sysupdate.source.type} ${r.sysupdate.source.path})\n`);
}
