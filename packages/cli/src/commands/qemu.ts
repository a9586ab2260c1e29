import { parseCredentials, readCertificate, CorruptError, UsageError, FileStorage, formatBootFailure, formatBootMarker, InputError, readGpt, resolveBootTarget, runQemu } from '@imgbuild/core';
import { EXIT_FAILED, EXIT_OK, printJson } from '../output.js';
import { archOf } from '../arch-option.js';

interface QemuOpts {
  /** Parsed by parse.ts, as is --memory. */
  timeout?: number;
  log?: string;
  memory?: number;
  smp?: number;
  accel?: string;
  /** true (no bound but the timeout) or the most resets. */
  allowReset?: boolean | number;
  /** false with --no-watchdog. */
  watchdog?: boolean;
  secureBoot?: boolean;
  enrollCert?: string;
  arch?: string;
  tpm?: boolean;
  tpmState?: string;
  ignition?: string;
  credential?: string[];
  nic?: string;
  json?: boolean;
}

function nicOf(v: string | undefined): 'none' | 'user' | undefined {
  if (v === undefined || v === 'none' || v === 'user') return v;
  throw new UsageError(`--nic ${JSON.stringify(v)}: none or user`);
}

/** A raw file with no GPT would only sit in the firmware until the timeout: say so at once. */
async function checkRawDisk(image: string): Promise<void> {
  const target = await resolveBootTarget({ image });
  if (target.format !== 'raw') return;
  const s = await FileStorage.open(target.image);
  try {
    await readGpt(s);
  } catch (e) {
    if (e instanceof CorruptError) throw new InputError(`not a disk image: ${e.message}`, { file: image });
    throw e;
  } finally {
    await s.close();
  }
}

/** `imgbuild qemu <image|bundle>`: one boot; exit 0 only when a healthy (ok or none) boot was seen. */
export async function run(image: string, opts: QemuOpts): Promise<number> {
  const timeoutMs = (opts.timeout ?? 300) * 1000;
  const memoryMiB = Math.round(opts.memory ?? 512);
  const smp = Math.round(opts.smp ?? 1);
  const credentials = parseCredentials(opts.credential ?? []);
  await checkRawDisk(image);
  const enrollCert = opts.enrollCert ? Buffer.from((await readCertificate(opts.enrollCert)).raw) : undefined;
  const r = await runQemu({ image, timeoutMs, memoryMiB, smp, logPath: opts.log, accel: opts.accel ?? 'tcg', allowReset: opts.allowReset, watchdog: opts.watchdog !== false, secureBoot: !!opts.secureBoot, enrollCert, arch: archOf(opts.arch), tpm: opts.tpmState ? { stateDir: opts.tpmState } : !!opts.tpm, ignition: opts.ignition, credentials, nic: nicOf(opts.nic) });
  const healthy = !!r.marker && r.marker.health !== 'fail';
  if (opts.json) {
    printJson({
      image,
      slot: r.marker?.slot ?? null,
      usrhash: r.marker?.usrhash ?? null,
      version: r.marker?.version || null, // an image without VERSION_ID prints version= (empty)
      health: r.marker?.health ?? 'fail',
      details: r.marker?.details ?? {},
      selector: r.selector,
      healthy,
      failure: r.failure,
      logPath: r.logPath ?? null,
      durationMs: r.durationMs,
      exitCode: r.exitCode,
      timedOut: r.timedOut,
      resets: { count: r.resets.length, watchdog: r.resets.filter((x) => x.cause === 'watchdog').length, events: r.resets.map(({ atMs, cause }) => ({ atMs, cause })) },
      ...(r.tpmStateDir ? { tpmStateDir: r.tpmStateDir } : {}),
    });
  } else {
    for (const line of r.selector.lines) process.stdout.write(`imgbuild-select: ${line}\n`);
    if (r.marker) process.stdout.write(formatBootMarker(r.marker) + '\n');
    if (r.failure) process.stdout.write(formatBootFailure(r.failure) + '\n');
    const where = (r.resets.length ? `; ${r.resets.length} reset(s), ${r.resets.filter((x) => x.cause === 'watchdog').length} by the watchdog` : '') + (r.logPath ? `; console log: ${r.logPath}` : '');
    process.stderr.write(`imgbuild: boot ${healthy ? 'healthy' : 'not healthy'} after ${(r.durationMs / 1000).toFixed(1)} s${where}\n`);
  }
  return healthy ? EXIT_OK : EXIT_FAILED;
}
