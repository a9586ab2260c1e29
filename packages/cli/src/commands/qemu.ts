import { CorruptError, FileStorage, formatBootFailure, formatBootMarker, InputError, readGpt, resolveBootTarget, runQemu, UsageError } from '@imgbuild/core';
import { EXIT_FAILED, EXIT_OK, printJson } from '../output.js';

interface QemuOpts {
  timeout?: string;
  log?: string;
  memory?: string;
  smp?: string;
  accel?: string;
  allowReset?: boolean;
  json?: boolean;
}

function positive(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${name} must be a positive number, got '${v}'`);
  return n;
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
  const timeoutMs = positive('timeout', opts.timeout, 300) * 1000;
  const memoryMiB = Math.round(positive('memory', opts.memory, 512));
  const smp = Math.round(positive('smp', opts.smp, 1));
  await checkRawDisk(image);
  const r = await runQemu({ image, timeoutMs, memoryMiB, smp, logPath: opts.log, accel: opts.accel ?? 'tcg', allowReset: !!opts.allowReset });
  const healthy = !!r.marker && r.marker.health !== 'fail';
  if (opts.json) {
    printJson({
      image,
      slot: r.marker?.slot ?? null,
      usrhash: r.marker?.usrhash ?? null,
      version: r.marker?.version ?? null,
      health: r.marker?.health ?? 'fail',
      details: r.marker?.details ?? {},
      selector: r.selector,
      healthy,
      failure: r.failure,
      logPath: r.logPath ?? null,
      durationMs: r.durationMs,
      exitCode: r.exitCode,
      timedOut: r.timedOut,
    });
  } else {
    for (const line of r.selector.lines) process.stdout.write(`imgbuild-select: ${line}\n`);
    if (r.marker) process.stdout.write(formatBootMarker(r.marker) + '\n');
    if (r.failure) process.stdout.write(formatBootFailure(r.failure) + '\n');
    const where = r.logPath ? `; console log: ${r.logPath}` : '';
    process.stderr.write(`imgbuild: boot ${healthy ? 'healthy' : 'not healthy'} after ${(r.durationMs / 1000).toFixed(1)} s${where}\n`);
  }
  return healthy ? EXIT_OK : EXIT_FAILED;
}
