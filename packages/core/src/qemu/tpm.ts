/**
 * A TPM 2.0 for the machine: swtpm, started before qemu and stopped with it. Its state (seeds, NV,
 * persistent keys) lives in a folder per image, so a node keeps its TPM, and with it its endorsement
 * and attestation keys, from one boot to the next, as a real machine does. PCRs start at zero at every
 * boot (qemu resets the TPM at power-on).
 *
 * Wiring (x86-64 q35): `swtpm socket --tpm2 --tpmstate dir=D --ctrl type=unixio,path=S` and qemu's
 * `-chardev socket,id=chrtpm,path=S -tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-crb,tpmdev=tpm0`.
 * The firmware (OVMF) then measures into PCRs 0-7, systemd's stub into PCR 11.
 */
import { onInterrupt } from '../atomic.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { ToolError } from '../errors.js';

/** Where the TPM state of an image lives when the caller names none: beside the file, or inside a bundle folder. */
export function defaultTpmStateDir(image: string, isBundle: boolean): string {
  const p = resolve(image);
  return isBundle ? join(p, 'tpm') : join(resolve(p, '..'), `${basename(p)}.tpm`);
}

/** swtpm's arguments for a TPM 2.0 with its state in `stateDir` and its control socket at `socket`. */
export function swtpmArgs(stateDir: string, socket: string): string[] {
  // --terminate: swtpm ends when qemu closes the control channel, even if we were killed first
  return ['socket', '--tpm2', '--tpmstate', `dir=${stateDir}`, '--ctrl', `type=unixio,path=${socket}`, '--terminate'];
}

/** qemu's arguments attaching the swtpm at `socket` as a CRB TPM 2.0 device. */
export function tpmQemuArgs(socket: string): string[] {
  return ['-chardev', `socket,id=chrtpm,path=${socket}`, '-tpmdev', 'emulator,id=tpm0,chardev=chrtpm', '-device', 'tpm-crb,tpmdev=tpm0'];
}

export interface Swtpm {
  stateDir: string;
  socket: string;
  qemuArgs: string[];
  /** Ends swtpm (it has usually ended with qemu already) and waits for it. */
  stop(): Promise<void>;
}

/**
 * Starts swtpm for one boot. `socketDir` holds the control socket (a short path: sockets are limited
 * to 107 bytes); `stateDir` is created when missing. Resolves once the socket accepts connections.
 */
export async function startSwtpm(stateDir: string, socketDir: string, binary = 'swtpm'): Promise<Swtpm> {
  await fsp.mkdir(stateDir, { recursive: true, mode: 0o700 });
  const socket = join(socketDir, 'swtpm.sock');
  const child = spawn(binary, swtpmArgs(resolve(stateDir), socket), { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<void>((r) => child.once('close', () => r()));
  // Gone with us however we end: an exit, or a signal (which skips 'exit' hooks).
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  const offInterrupt = onInterrupt(onExit);
  const stop = async () => {
    process.removeListener('exit', onExit);
    offInterrupt();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  try {
    await waitForSocket(child, socket, () => stderr, binary);
  } catch (e) {
    await stop();
    throw e;
  }
  return { stateDir, socket, qemuArgs: tpmQemuArgs(socket), stop };
}

async function waitForSocket(child: ChildProcess, socket: string, stderr: () => string, binary: string): Promise<void> {
  let spawnError: NodeJS.ErrnoException | undefined;
  child.once('error', (e: NodeJS.ErrnoException) => (spawnError = e));
  for (let i = 0; i < 100; i++) {
    if (spawnError)
      throw new ToolError(
        spawnError.code === 'ENOENT' ? `${binary} not found (install swtpm, or run hack/install-deps.sh)` : `${binary}: ${spawnError.message}`,
      );
    if (child.exitCode !== null) throw new ToolError(`swtpm exited ${child.exitCode} before qemu started: ${stderr().trim().split('\n').pop() ?? ''}`);
    if (
      await fsp.stat(socket).then(
        (s) => s.isSocket(),
        () => false,
      )
    )
      return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new ToolError(`swtpm did not open its socket ${socket} within 5 s`);
}
