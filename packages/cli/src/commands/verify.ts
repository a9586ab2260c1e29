import { formatCheck, verifyImage } from '@imgbuild/core';
import { checkImageArg } from '../args.js';
import { EXIT_FAILED, printJson, progressBar } from '../output.js';

export async function run(image: string, opts: { manifest?: string; cert?: string; feedManifest?: string[]; json?: boolean }): Promise<number> {
  await checkImageArg(image, { bundle: true }); // a qcow2 or a stray folder, said plainly
  const progress = progressBar(!opts.json);
  const r = await verifyImage({ image, manifestPath: opts.manifest, cert: opts.cert, feedManifests: opts.feedManifest, onProgress: progress });
  progress.finish();
  const count = (s: string) => r.checks.filter((c) => c.status === s).length;
  if (opts.json) {
    printJson({ image, ok: r.ok, manifestPath: r.manifestPath, manifestVersion: r.manifest.upgradedFrom ?? 2, imageUnchanged: r.imageUnchanged, checks: r.checks.map((c) => ({ ...c, detail: c.detail || null })) });
  } else {
    for (const c of r.checks) process.stdout.write(`${formatCheck(c)}\n`);
    const notCovered = count('not-covered');
    process.stdout.write(
      `${r.ok ? 'ok' : 'FAIL'}: ${count('ok')} checks passed, ${count('fail')} failed, ${notCovered} region${notCovered === 1 ? '' : 's'} not covered` +
        (r.manifest.upgradedFrom ? ` (manifest version ${r.manifest.upgradedFrom}: rebuild or update to record every region)` : '') +
        '\n',
    );
    if (!r.ok) process.stderr.write(`imgbuild: ${image}: does not match ${r.manifestPath}\n`);
  }
  return r.ok ? 0 : EXIT_FAILED;
}
