import { verifyImage } from '@imgbuild/core';
import { checkImageArg } from '../args.js';
import { EXIT_FAILED, printJson, progressBar } from '../output.js';

export async function run(image: string, opts: { manifest?: string; json?: boolean }): Promise<number> {
  await checkImageArg(image, { bundle: true }); // a qcow2 or a stray folder, said plainly
  const progress = progressBar(!opts.json);
  const r = await verifyImage({ image, manifestPath: opts.manifest, onProgress: progress });
  progress.finish();
  if (opts.json) printJson({ image, ok: r.ok, imageUnchanged: r.imageUnchanged, manifestPath: r.manifestPath, checks: r.checks });
  else {
    for (const c of r.checks) process.stdout.write(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name.padEnd(8)} ${c.detail}\n`);
    process.stdout.write(r.imageUnchanged ? 'image is bit-identical to the build\n' : 'image differs from the build outside the verified parts (slot bits change at boot)\n');
    if (!r.ok) process.stderr.write(`imgbuild: ${image}: does not match ${r.manifestPath}\n`);
  }
  return r.ok ? 0 : EXIT_FAILED;
}
