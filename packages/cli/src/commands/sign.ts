import { signImage } from '@imgbuild/core';
import { checkImageArg } from '../args.js';
import { printJson } from '../output.js';

/** `imgbuild sign IMAGE --sign-key K --sign-cert C`: sign the selector and UKIs in place. */
export async function run(image: string, opts: { signKey: string; signCert: string; signPassFile?: string; force?: boolean; json?: boolean }): Promise<void> {
  await checkImageArg(image, { bundle: true });
  const r = await signImage({ image, sign: { key: opts.signKey, cert: opts.signCert, passFile: opts.signPassFile }, force: !!opts.force });
  if (opts.json) return printJson({ image, manifestPath: r.manifestPath, signing: r.signing });
  process.stdout.write(
    [`signed ${image} with certificate sha256 ${r.signing.certSha256}`, ...r.signing.files.map((f) => `  ${f.path} ${f.sha256}`), `  manifest ${r.manifestPath}`].join('\n') + '\n',
  );
}
