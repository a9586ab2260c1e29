/**
 * Boots a disk image under qemu through OVMF and the image's own ESP (no -kernel shortcut) and reads
 * the boot marker that the test initramfs prints on the serial console.
 *
 * Always TCG by default: on the machines this runs on, OVMF under KVM dies with an emulation failure.
 * The OVMF variables are copied fresh for every boot, so no boot entry survives from one to the next and
 * the firmware falls back to EFI/BOOT/BOOTX64.EFI, the slot selector. The image itself is opened
 * read-write: the selector uses up tries and the booted system marks its slot good on it, exactly as on
 * a real machine.
 */
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import fse from 'fs-extra';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';
import { onInterrupt, trackTemporary } from '../atomic.js';
import { fsError, ImgbuildError, InputError, ToolError, UsageError, withFile } from '../errors.js';
import { withImageLock } from '../lock.js';
import { parseBootMarker, type BootFailure, type BootMarker } from './marker.js';
import { parseSelectorLog, type SelectorLog } from './selector-log.js';
import { DEFAULT_OVMF_CODE, DEFAULT_OVMF_VARS } from './firmware.js';
import { findBundle } from './bundle.js';
import { firmwareRefusal, secureBootVarsFile, varsEnforceSecureBoot } from './secure-boot.js';
import { firmwareFiles, firmwarePackage, imageArchitecture, machineArgs, qemuBinary } from './machine.js';
import type { Architecture } from '../arch.js';
import { restartedOnVerity, stuckOnVerity } from './stuck.js';
import { checkIgnitionConfig, credentialArgs, credentialTransport, ignitionArgs, type Credential } from './provision.js';
import { defaultTpmStateDir, startSwtpm, type Swtpm } from './tpm.js';
import { lastBootLog, resetBound, watchResets, WATCHDOG_QEMU_ARGS, type MachineReset } from './watchdog.js';

export { DEFAULT_OVMF_CODE, DEFAULT_OVMF_VARS };

/**
 * How {@link runQemu} boots: the image, the firmware, the machine, resets, Secure Boot, a TPM.
 *
 * @example
 * ```ts
 * const o: RunQemuOptions = { image: 'disk.raw', timeoutMs: 120_000, allowReset: 2, tpm: true, logPath: 'serial.log' };
 * ```
 */
export interface RunQemuOptions {
  /** Raw or qcow2 disk image, or a qemu_uefi bundle folder (`<name>.qcow2`, `<name>_efi_code.fd`, `<name>_efi_vars.fd`). */
  image: string;
  /** Default: from the extension (.qcow2 → qcow2, anything else raw); a bundle is always qcow2. */
  format?: 'raw' | 'qcow2';
  /** OVMF code (read-only pflash). Default: the bundle's, else /usr/share/OVMF/OVMF_CODE_4M.fd. */
  ovmfCode?: string;
  /** OVMF variables template; copied to a temp file for every boot. Default: the bundle's, else OVMF_VARS_4M.fd. */
  ovmfVars?: string;
  memoryMiB?: number;
  /** Guest CPUs (`-smp`). Default 1. */
  smp?: number;
  /** qemu is killed after this long. Default 300 000. */
  timeoutMs?: number;
  /** Keep the serial console here (otherwise it goes to a temp file that is removed). */
  logPath?: string;
  /** `-machine q35,accel=<accel>`. Default tcg. */
  accel?: string;
  /** Default: the architecture's (qemu-system-x86_64, qemu-system-aarch64). */
  qemuBinary?: string;
  /** The machine to boot on. Default: the image's manifest's architecture, else the ESP's loader's, else x86-64. */
  arch?: Architecture;
  /** Extra qemu arguments, appended. */
  extraArgs?: string[];
  /**
   * The guest's network: 'none' (default) or 'user', qemu's user-mode network (a virtio NIC; the host
   * is 10.0.2.2 from the guest, which reaches only what the host serves or can reach itself).
   */
  nic?: 'none' | 'user';
  /**
   * Let the machine reset (a kernel panic with panic=-1, a watchdog) instead of ending the run, so the
   * selector gets its next boot within one run, as on real hardware. true: bounded by timeoutMs only;
   * a number: at most that many resets, then the run is stopped (failure `reset-limit`).
   */
  allowReset?: boolean | number;
  /** Give the guest qemu's i6300esb watchdog (watchdog.ts). Default true. */
  watchdog?: boolean;
  /**
   * Boot under OVMF's Secure Boot firmware (SMM, secure pflash). A bundle whose vars enforce Secure
   * Boot gets it without asking. The vars: `enrollCert`'s, else ovmfVars, else Debian's snakeoil ones.
   */
  secureBoot?: boolean;
  /** A DER certificate to enroll as PK, KEK and db in a freshly written vars file (implies secureBoot). */
  enrollCert?: Buffer;
  /**
   * Attach a TPM 2.0 (swtpm, qemu/tpm.ts) whose state is kept in this folder (true: `<image>.tpm/`
   * beside a file, `tpm/` inside a bundle folder). swtpm stops with the machine.
   */
  tpm?: boolean | { stateDir: string };
  /** An Ignition config for the guest's first boot, as fw_cfg opt/com.coreos/config (provision.ts); checked first. */
  ignition?: string;
  /** systemd credentials for the guest: SMBIOS type 11 on x86-64, fw_cfg elsewhere (provision.ts). */
  credentials?: Credential[];
  /**
   * Cut the power: SIGKILL qemu, with no shutdown and nothing flushed by the guest, as soon as this
   * returns true (polled every 500 ms). For tests of writes interrupted at a chosen point; the run's
   * failure is then `power-cut`.
   */
  powerCutWhen?: () => boolean | Promise<boolean>;
}

/**
 * What one qemu run showed: the boot marker or failure, the selector's choices, the resets, the console.
 *
 * @example
 * ```ts
 * const r: QemuRunResult = await runQemu({ image: 'disk.raw' });
 * console.log(r.marker?.slot, r.failure?.reason, r.durationMs);
 * ```
 */
export interface QemuRunResult {
  marker: BootMarker | null;
  /** What the UEFI slot selector printed, and which slots it started. */
  selector: SelectorLog;
  /** The initramfs's failure line; or `timeout` / `no-marker` when neither line was printed. */
  failure: BootFailure | null;
  /** The serial console. */
  log: string;
  logPath?: string;
  durationMs: number;
  /** qemu's exit code; null when it was killed. */
  exitCode: number | null;
  timedOut: boolean;
  /** The command that was run. */
  argv: string[];
  /** The TPM's state folder, when one was attached. */
  tpmStateDir?: string;
  /** Every reset qemu reported, in order (watchdog.ts); the marker and failure are the last boot's. */
  resets: MachineReset[];
}

/**
 * The disk and firmware files a boot uses, resolved from an image or bundle ({@link resolveBootTarget}).
 *
 * @example
 * ```ts
 * const t: BootTarget = await resolveBootTarget({ image: 'vm' });
 * console.log(t.image, t.format, t.ovmfCode, t.secureBoot);
 * ```
 */
export interface BootTarget {
  image: string;
  format: 'raw' | 'qcow2';
  ovmfCode: string;
  ovmfVars: string;
  /** Set when `image` was a qemu_uefi bundle folder. */
  bundle?: string;
  /** Secure Boot machine options (SMM, secure pflash) are needed. */
  secureBoot: boolean;
  arch: Architecture;
}

/**
 * Resolves an image file or a qemu_uefi bundle folder into the disk and firmware files to boot.
 *
 * @example
 * ```ts
 * const t = await resolveBootTarget({ image: 'disk.raw' });
 * console.log(`${t.format} disk for ${t.arch}, firmware ${t.ovmfCode}`);
 * ```
 */
export async function resolveBootTarget(opts: Pick<RunQemuOptions, 'image' | 'format' | 'ovmfCode' | 'ovmfVars' | 'secureBoot' | 'enrollCert' | 'arch'>): Promise<BootTarget> {
  const secure = !!opts.secureBoot || !!opts.enrollCert;
  const path = resolve(opts.image);
  let st;
  try {
    st = await fsp.stat(path);
  } catch {
    throw new InputError('no such image or bundle folder', { file: opts.image });
  }
  if (st.isDirectory()) {
    const { qcow2, code, vars, manifest } = await findBundle(path).catch((e) => {
      throw e instanceof ImgbuildError ? withFile(e, opts.image) : e;
    });
    const arch = opts.arch ?? (await imageArchitecture(qcow2, manifest)).arch;
    const ovmfVars = opts.ovmfVars ?? ((await fse.pathExists(vars)) ? vars : firmwareFiles(arch, secure).vars);
    // A bundle built with --secure-boot says so through its vars file: a PK and SecureBootEnable=1.
    const bundleSecure = secure || varsEnforceSecureBoot(await fsp.readFile(ovmfVars).catch(() => Buffer.alloc(0)));
    return {
      image: qcow2,
      format: 'qcow2',
      ovmfCode: opts.ovmfCode ?? ((await fse.pathExists(code)) ? code : firmwareFiles(arch, bundleSecure).code),
      ovmfVars,
      bundle: path,
      secureBoot: bundleSecure,
      arch,
    };
  }
  const arch = opts.arch ?? (await imageArchitecture(path)).arch;
  return {
    image: path,
    format: opts.format ?? (extname(path).toLowerCase() === '.qcow2' ? 'qcow2' : 'raw'),
    ovmfCode: opts.ovmfCode ?? firmwareFiles(arch, secure).code,
    ovmfVars: opts.ovmfVars ?? firmwareFiles(arch, secure).vars,
    secureBoot: secure,
    arch,
  };
}

/** The qemu command line for one boot (pure). */
export function qemuArgs(t: { image: string; format: string; ovmfCode: string; varsCopy: string; serialLog: string; memoryMiB: number; accel: string; allowReset?: boolean; secureBoot?: boolean; smp?: number; arch?: Architecture; watchdog?: boolean; nic?: 'none' | 'user' }): string[] {
  return [
    ...machineArgs(t.arch ?? 'x86-64', t.accel, !!t.secureBoot),
    '-m', String(t.memoryMiB),
    ...(t.smp && t.smp > 1 ? ['-smp', String(t.smp)] : []),
    // no ROM on the NIC: the firmware must not try to boot from the network before the disk
    ...(t.nic === 'user' ? ['-netdev', 'user,id=net0', '-device', 'virtio-net-pci,netdev=net0,romfile='] : ['-nic', 'none']),
    '-display', 'none',
    '-serial', `file:${t.serialLog}`,
    '-monitor', 'none',
    ...(t.allowReset ? [] : ['-no-reboot']),
    '-drive', `if=pflash,format=raw,readonly=on,file=${t.ovmfCode}`,
    '-drive', `if=pflash,format=raw,file=${t.varsCopy}`,
    '-drive', `file=${t.image},format=${t.format},if=virtio`,
    ...(t.watchdog ? WATCHDOG_QEMU_ARGS : []),
  ];
}

/**
 * Boots once and returns what the console said. Rejects only when qemu cannot be started at all.
 *
 * @example
 * ```ts
 * import { formatBootMarker, runQemu } from '@imgbuild/core';
 *
 * const r = await runQemu({ image: 'disk.raw', timeoutMs: 180_000 });
 * console.log(r.marker ? formatBootMarker(r.marker) : `no boot: ${r.failure?.reason}`);
 * ```
 */
export async function runQemu(opts: RunQemuOptions): Promise<QemuRunResult> {
  const t = await resolveBootTarget(opts);
  for (const [what, f] of [['OVMF code', t.ovmfCode], ['OVMF variables', t.ovmfVars]] as const) {
    if (!(await fse.pathExists(f))) throw new InputError(`${what} not found (install the ${firmwarePackage(t.arch)} package, or run hack/install-deps.sh)`, { file: f });
  }
  if (opts.ignition !== undefined) await readIgnitionConfig(opts.ignition);
  // The guest writes the image (the selector's tries, the blessing): a writer like any other.
  return withImageLock(t.bundle ?? t.image, () => bootLocked(opts, t));
}

async function bootLocked(opts: RunQemuOptions, t: BootTarget): Promise<QemuRunResult> {
  const timeoutMs = opts.timeoutMs ?? 300_000;
  const work = await fsp.mkdtemp(join(tmpdir(), 'imgbuild-qemu-'));
  const untrack = trackTemporary(work);
  let tpm: Swtpm | undefined;
  try {
    // qemu's arm64 virt machine offers only tpm-tis-device, which Debian's arm64 kernel has no driver for.
    if (opts.tpm && t.arch !== 'x86-64') throw new UsageError(`--tpm: a TPM is attached on x86-64 machines only (this image is ${t.arch})`);
    if (opts.tpm) tpm = await startSwtpm(opts.tpm === true ? defaultTpmStateDir(opts.image, !!t.bundle) : opts.tpm.stateDir, work);
    const varsCopy = join(work, 'efi_vars.fd');
    if (opts.enrollCert) await secureBootVarsFile(varsCopy, opts.enrollCert, Math.floor(Date.now() / 1000), t.arch);
    else await fsp.copyFile(t.ovmfVars, varsCopy);
    await fsp.chmod(varsCopy, 0o644);
    const serialLog = opts.logPath ? resolve(opts.logPath) : join(work, 'serial.log');
    await fsp.writeFile(serialLog, '');
    const maxResets = resetBound(opts.allowReset);
    const watch = watchResets(join(work, 'qmp.sock'), serialLog);
    const argv = [
      // The i6300esb is a q35 (x86-64) watchdog; the arm64 virt machine boots without one.
      ...qemuArgs({ image: t.image, format: t.format, ovmfCode: t.ovmfCode, varsCopy, serialLog, memoryMiB: opts.memoryMiB ?? 512, accel: opts.accel ?? 'tcg', allowReset: maxResets !== null, secureBoot: t.secureBoot, smp: opts.smp, arch: t.arch, watchdog: (opts.watchdog ?? true) && t.arch === 'x86-64', nic: opts.nic }),
      ...(tpm?.qemuArgs ?? []),
      ...(opts.ignition !== undefined ? ignitionArgs(resolve(opts.ignition)) : []),
      ...(await guestCredentialArgs(opts.credentials ?? [], t.arch, work)),
      ...watch.args,
      ...(opts.extraArgs ?? []),
    ];
    const bin = opts.qemuBinary ?? qemuBinary(t.arch).binary;
    const start = Date.now();
    // Two ways a guest stops without ever ending: the firmware refusing the loader under Secure Boot
    // (it then waits for a key), and a boot frozen on a dm-verity error (stuck.ts). Watch the console.
    let refusal: string | null = null;
    // A run allowed to reset is not stopped on a frozen boot: the guest's watchdog resets it and the
    // selector chooses again; the reset bound stops it instead.
    let cut = false;
    const stopWhen = async () => {
      if (opts.powerCutWhen && (await opts.powerCutWhen())) return (cut = true);
      if (maxResets !== null && watch.resets.length > maxResets) return true;
      const text = await fsp.readFile(serialLog, 'latin1').catch(() => '');
      if (t.secureBoot && (refusal = firmwareRefusal(text)) !== null) return true;
      return maxResets === null && !!stuckOnVerity(text);
    };
    const running = spawnWithTimeout(bin, argv, timeoutMs, stopWhen, qemuBinary(t.arch).package);
    void watch.attach(start);
    const { exitCode, timedOut, stderr, stopped } = await running.finally(() => watch.close());
    const durationMs = Date.now() - start;
    const whole = await fsp.readFile(serialLog, 'latin1');
    const log = lastBootLog(whole, watch.resets);
    let { marker, failure } = parseBootMarker(log);
    if (!marker && !failure && cut) failure = { reason: 'power-cut', detail: `the power was cut after ${Math.round(durationMs / 1000)} s, as asked` };
    if (!marker && !failure) failure = resetFailure(watch.resets, maxResets, stopped, log) ?? restartedOnVerity(log);
    if (!marker && !failure && refusal) {
      failure = { reason: 'secure-boot-refused', detail: `the firmware refused the boot loader (Secure Boot): ${refusal}` };
    }
    if (!marker && !failure && stopped) failure = stuckOnVerity(log);
    if (!marker && !failure) {
      const tail = log.trim().split(/\r?\n/).slice(-3).join(' | ').slice(0, 400);
      failure = timedOut
        ? { reason: 'timeout', detail: `no boot marker within ${Math.round(timeoutMs / 1000)} s; console ends: ${tail}` }
        : { reason: 'no-marker', detail: `qemu exited ${exitCode} without a boot marker${stderr ? `: ${stderr.trim().split('\n').pop()}` : ''}; console ends: ${tail}` };
    }
    return { marker, selector: parseSelectorLog(whole), failure, log: whole, logPath: opts.logPath ? serialLog : undefined, durationMs, exitCode, timedOut, argv: [bin, ...argv], resets: watch.resets, ...(tpm ? { tpmStateDir: tpm.stateDir } : {}) };
  } finally {
    await tpm?.stop();
    await fsp.rm(work, { recursive: true, force: true });
    untrack();
  }
}

/** Reads and checks the Ignition config the guest will be given: one line naming the file when it is unusable. */
async function readIgnitionConfig(path: string): Promise<void> {
  const text = await fsp.readFile(path, 'utf8').catch((e) => {
    throw fsError(e, path, 'cannot read the Ignition config');
  });
  try {
    checkIgnitionConfig(text);
  } catch (e) {
    throw e instanceof ImgbuildError ? withFile(e, path) : e;
  }
}

/** The credentials' qemu arguments; for fw_cfg each value is written to a file in the run's work folder. */
async function guestCredentialArgs(creds: Credential[], arch: Architecture, work: string): Promise<string[]> {
  const via = credentialTransport(arch);
  if (via === 'fw_cfg') {
    await fsp.mkdir(join(work, 'credentials'), { mode: 0o700 });
    for (const c of creds) await fsp.writeFile(join(work, 'credentials', c.name), c.value, { mode: 0o600 });
  }
  return credentialArgs(creds, via, (name) => join(work, 'credentials', name));
}

/** Why a run ended without a marker or failure line, when its resets say: the bound, or the watchdog. */
function resetFailure(resets: MachineReset[], maxResets: number | null, stopped: boolean, log: string): BootFailure | null {
  const tail = log.trim().split(/\r?\n/).slice(-3).join(' | ').slice(0, 300);
  if (maxResets !== null && stopped && resets.length > maxResets) {
    return { reason: 'reset-limit', detail: `the machine reset ${resets.length} times (at most ${maxResets} allowed); the last boot's console ends: ${tail}` };
  }
  const last = resets.at(-1);
  if (last?.endedRun && last.cause === 'watchdog') return { reason: 'watchdog', detail: `the watchdog reset the machine: the boot stopped making progress; console ends: ${tail}` };
  return null;
}

/** `stopWhen` is polled every 500 ms; true ends the run (nothing the guest does matters any more). */
function spawnWithTimeout(bin: string, argv: string[], timeoutMs: number, stopWhen?: () => Promise<boolean>, pkg = 'qemu-system-x86'): Promise<{ exitCode: number | null; timedOut: boolean; stderr: string; stopped: boolean }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(bin, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let timedOut = false;
    let stopped = false;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => {
      if (stderr.length < 65536) stderr += d;
    });
    // Never leave qemu running behind a dying parent: an exit, or a signal (which skips 'exit' hooks).
    const onExit = () => child.kill('SIGKILL');
    process.once('exit', onExit);
    const offInterrupt = onInterrupt(onExit);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      setTimeout(() => child.kill('SIGKILL'), 3000).unref();
    }, timeoutMs);
    const poll = stopWhen
      ? setInterval(() => {
          void stopWhen().then((stop) => {
            if (!stop || stopped) return;
            stopped = true;
            child.kill('SIGKILL');
          });
        }, 500)
      : undefined;
    child.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      clearInterval(poll);
      process.removeListener('exit', onExit);
      offInterrupt();
      reject(new ToolError(e.code === 'ENOENT' ? `${bin} not found (install ${pkg}, or run hack/install-deps.sh)` : `${bin}: ${e.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      clearInterval(poll);
      process.removeListener('exit', onExit);
      offInterrupt();
      resolvePromise({ exitCode: code, timedOut, stderr, stopped });
    });
  });
}
