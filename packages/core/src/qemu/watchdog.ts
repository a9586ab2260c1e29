/**
 * The guest's hardware watchdog, and the resets of a run.
 *
 * Every machine `runQemu` starts gets qemu's i6300esb watchdog unless asked not to (`watchdog: false`):
 * the device does nothing until the guest arms it. The example OS arms it from its initrd onward
 * (systemd's RuntimeWatchdogSec), the test initramfs from its start (hack/initramfs/init); a guest that
 * then stops making progress is reset, and the selector chooses again (docs/boot.md, "Self-healing
 * boots").
 *
 * Resets are counted from qemu's own events (QMP: WATCHDOG, RESET, SHUTDOWN), not from the console:
 * a watchdog reset prints nothing in the guest. Each reset records when it came, why (the watchdog
 * or the guest itself: a panic with panic=-1, dm-verity's restart-on-corruption, a reboot, the
 * firmware), and where the console stood, so that the last boot's lines can be read on their own.
 */
import { connect, type Socket } from 'node:net';
import { promises as fsp } from 'node:fs';

/** qemu arguments for the watchdog: the device, and a reset (qemu's default action, named). */
export const WATCHDOG_QEMU_ARGS = ['-device', 'i6300esb', '-action', 'watchdog=reset'];

/**
 * A reset of the machine during a qemu run: when, why (the watchdog or the guest), and where in the
 * console the next boot begins.
 *
 * @example
 * ```ts
 * const r = await runQemu({ image: 'disk.raw', allowReset: true });
 * for (const x of r.resets) console.log(`${x.cause} reset at ${x.atMs} ms`);
 * ```
 */
export interface MachineReset {
  /** Milliseconds since qemu was started. */
  atMs: number;
  cause: 'watchdog' | 'guest';
  /** Bytes of console written before the reset: the next boot's lines start here. */
  logOffset: number;
  /** The reset ended the run (qemu's -no-reboot) instead of starting another boot. */
  endedRun: boolean;
}

export interface ResetWatch {
  /** The qemu arguments that open the event socket. */
  args: string[];
  resets: MachineReset[];
  /** Connects once qemu runs (retries until the socket is there); never rejects. */
  attach(start: number): Promise<void>;
  close(): void;
}

/** One QMP event as qemu sends it, one JSON object per line. */
interface QmpMessage {
  QMP?: unknown;
  event?: string;
  data?: { guest?: boolean; reason?: string; action?: string };
}

/** What a QMP event means for the reset count, given whether a WATCHDOG event came just before. */
export function resetOf(m: QmpMessage, watchdogPending: boolean): MachineReset['cause'] | null {
  // With -no-reboot a guest reset ends qemu: SHUTDOWN with reason guest-reset instead of RESET.
  const reset = m.event === 'RESET' ? m.data?.guest !== false : m.event === 'SHUTDOWN' && m.data?.reason === 'guest-reset';
  if (!reset) return null;
  return watchdogPending ? 'watchdog' : 'guest';
}

/** Watches the resets of one qemu run through a QMP socket at `socketPath`; the serial log gives the offsets. */
export function watchResets(socketPath: string, serialLog: string): ResetWatch {
  const resets: MachineReset[] = [];
  let sock: Socket | null = null;
  let closed = false;
  let watchdogPending = false;
  let started = 0;
  const onLine = async (line: string) => {
    let m: QmpMessage;
    try {
      m = JSON.parse(line) as QmpMessage;
    } catch {
      return;
    }
    if (m.QMP) sock?.write('{"execute":"qmp_capabilities"}\n');
    if (m.event === 'WATCHDOG') watchdogPending = true;
    const cause = resetOf(m, watchdogPending);
    if (!cause) return;
    watchdogPending = false;
    const atMs = Date.now() - started;
    const logOffset = (await fsp.stat(serialLog).catch(() => ({ size: 0 }))).size;
    resets.push({ atMs, cause, logOffset, endedRun: m.event === 'SHUTDOWN' });
  };
  const tryConnect = () =>
    new Promise<Socket | null>((resolve) => {
      const s = connect(socketPath);
      s.once('connect', () => resolve(s));
      s.once('error', () => resolve(null));
    });
  return {
    args: ['-qmp', `unix:${socketPath},server=on,wait=off`],
    resets,
    async attach(start: number) {
      started = start;
      for (let i = 0; i < 200 && !closed && !sock; i++) {
        sock = await tryConnect();
        if (!sock) await new Promise((r) => setTimeout(r, 50));
      }
      if (!sock || closed) return;
      let buf = '';
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => {
        buf += d;
        let nl;
        while ((nl = buf.indexOf('\n')) >= 0) {
          void onLine(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
        }
      });
      sock.on('error', () => undefined);
    },
    close() {
      closed = true;
      sock?.destroy();
    },
  };
}

/** The console of the last boot: everything after the last reset that left the machine running. */
export function lastBootLog(log: string, resets: MachineReset[]): string {
  const restarts = resets.filter((r) => !r.endedRun);
  const at = restarts.length ? restarts[restarts.length - 1].logOffset : 0;
  return at <= log.length ? log.slice(at) : log;
}

/** The reset bound of `allowReset`: true is unbounded (the timeout bounds the run), a number is the most resets. */
export function resetBound(allowReset: boolean | number | undefined): number | null {
  if (typeof allowReset === 'number') return allowReset;
  return allowReset ? Infinity : null;
}
