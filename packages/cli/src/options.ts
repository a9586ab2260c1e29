/**
 * The options that several commands take, each written once: the same flag has the same words and
 * the same parser wherever it appears. A command adds one with `.addOption(OPTIONS.json())`; options
 * that belong to one command stay in its `commands/<name>.command.ts`.
 */
import { Option } from 'commander';
import { integer } from './parse.js';

export { archOption } from './arch-option.js';

/** The argument of every command that reads or changes an image. */
export const IMAGE_ARG = 'raw disk image or qemu_uefi bundle folder';
/** The same, for the commands that work on a built image as a whole (its manifest beside it). */
export const BUILT_IMAGE_ARG = 'raw image or qemu_uefi bundle folder';

export const OPTIONS = {
  json: (what = 'machine-readable output') => new Option('--json', what),
  /** A picture beside the text; with it, the --force that lets it replace a file. */
  svg: (what: string) => new Option('--svg <file>', what),
  svgForce: () => new Option('--force', 'replace an existing --svg file'),
  jobs: () => new Option('-j, --jobs <n>', 'worker threads (default: number of cores)').argParser(integer('--jobs', { min: 1 })),
  signCert: () => new Option('--sign-cert <cert.pem>', 'the certificate of --sign-key (recorded in the manifest by its sha256)'),
  signPassFile: (whose = 'an encrypted --sign-key') => new Option('--sign-pass-file <file>', `first line: the password of ${whose} (or set IMGBUILD_SIGN_PASS)`),
  imageSha256: () =>
    new Option('--image-sha256', 'also record the plain sha256 of the whole raw image (a pass over the full disk size; the manifest always has image.digest)'),
  dataBlockSize: (what = 'data block size') => new Option('--data-block-size <n>', what).argParser(integer('--data-block-size')).default(4096),
  hashBlockSize: (what = 'hash block size') => new Option('--hash-block-size <n>', what).argParser(integer('--hash-block-size')).default(4096),
} as const;
