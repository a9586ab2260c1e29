import { promises as fsp } from 'node:fs';
import { attestReport, CorruptError, parseAttestReport, readManifest, UsageError, withFile, writeFileAtomic, type AttestVerdict } from '@imgbuild/core';
import { EXIT_FAILED, EXIT_OK, printJson } from '../output.js';

interface AttestOpts {
  manifest: string;
  nonce: string;
  ak?: string;
  pcr7?: string;
  extensions?: string;
  json?: boolean;
}

async function readIfExists(path: string): Promise<string | null> {
  try {
    return await fsp.readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

/**
 * `imgbuild attest REPORT --manifest M --nonce N [--ak FILE]`: exit 0 when the node runs a slot of
 * this image as the manifest predicts. --ak FILE pins the node's attestation key: read when it exists,
 * written from a report that passes every other check when it does not (trust on first use).
 */
export async function run(reportPath: string, opts: AttestOpts): Promise<number> {
  if (!/^(?:[0-9a-f]{2}){8,32}$/.test(opts.nonce)) throw new UsageError(`--nonce '${opts.nonce}': 16-64 lowercase hex digits`);
  if (opts.pcr7 !== undefined && !/^[0-9a-f]{64}$/.test(opts.pcr7)) throw new UsageError(`--pcr7 '${opts.pcr7}': 64 lowercase hex digits`);
  let report;
  try {
    report = parseAttestReport(await fsp.readFile(reportPath, 'utf8'));
  } catch (e) {
    throw e instanceof CorruptError ? withFile(e, reportPath) : e;
  }
  const manifest = await readManifest(opts.manifest);
  const pinned = opts.ak ? await readIfExists(opts.ak) : null;
  const expectedExtensions = opts.extensions === undefined ? undefined : opts.extensions === 'none' ? [] : opts.extensions.split(',');
  const input = { report, manifest, nonce: opts.nonce, trustedAk: pinned, expectedPcr7: opts.pcr7, expectedExtensions };
  let verdict: AttestVerdict = attestReport(input);
  let firstUse = false;
  if (opts.ak && pinned === null) {
    // first use: trust the report's key if everything else holds, and remember it
    const reportAk = Buffer.from(report.ak, 'base64').toString('utf8');
    const trial = attestReport({ ...input, trustedAk: reportAk });
    if (trial.ok) {
      await writeFileAtomic(opts.ak, reportAk);
      firstUse = true;
      trial.checks[0] = { ...trial.checks[0], detail: `trusted on first use, saved to ${opts.ak}` };
    }
    verdict = trial.ok ? trial : verdict;
  }
  if (opts.json) {
    printJson({
      report: reportPath,
      manifest: opts.manifest,
      ok: verdict.ok,
      identity: verdict.identity,
      akFile: opts.ak ?? null,
      firstUse,
      checks: verdict.checks,
    });
  } else {
    for (const c of verdict.checks) process.stdout.write(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name}: ${c.detail}\n`);
    const id = verdict.identity;
    if (id)
      process.stdout.write(
        `the node runs ${id.image}, slot ${id.slot}, version ${id.version ?? '?'} (usrhash ${id.usrhash.slice(0, 16)}…, extensions: ${id.extensions.join(',') || 'none'}, AK ${id.ak.slice(0, 16)}…)\n`,
      );
    else process.stderr.write(`imgbuild: ${reportPath}: the node does not prove it runs ${opts.manifest}'s image\n`);
  }
  return verdict.ok ? EXIT_OK : EXIT_FAILED;
}
