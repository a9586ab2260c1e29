/**
 * What systemd's EFI stub and systemd-pcrphase extend into PCR 11 (the "kernel image" PCR) when a UKI
 * boots: predicted from the UKI's own bytes, no TPM involved. Pure: buffers in, hex strings out.
 *
 * The stub extends, for each section it measures that the UKI has, in its own fixed order: first
 * sha256(section name + NUL), then sha256(the section's VirtualSize bytes). Which sections it measures
 * depends on the stub's systemd release, so the prediction reads the stub's release from the UKI's
 * `.sdmagic` section ("#### LoaderInfo: systemd-stub 252.39-1~deb12u2 ####") and follows its rules:
 *   - up to 253: .linux .osrel .cmdline .initrd .splash .dtb .pcrpkey (.pcrsig never; 252 has no
 *     .uname, and its .sbat is the stub's own, not measured);
 *   - 254 on:    .linux .osrel .cmdline .initrd .splash .dtb .uname .sbat .pcrpkey.
 * After the kernel starts, systemd-pcrphase extends sha256(word), without a NUL, for each boot phase:
 * enter-initrd, leave-initrd (in the initrd), sysinit, ready (in the real root). PCR 11 starts at zero.
 */
import { createHash } from 'node:crypto';
import { CorruptError, InputError } from '../errors.js';
import { decodePe, type PeSection } from '../boot/pe.js';

/** The PCR that systemd-stub and systemd-pcrphase extend. */
export const PCR_KERNEL_IMAGE = 11;
/**
 * The boot phases systemd-pcrphase measures on the way up, in order (systemd.special: "TPM2 PCR phases").
 *
 * @example
 * ```ts
 * for (const phase of BOOT_PHASES) console.log(phase, prediction.phases[phase]);
 * ```
 */
export const BOOT_PHASES = ['enter-initrd', 'leave-initrd', 'sysinit', 'ready'] as const;
/**
 * A boot phase systemd-pcrphase measures into PCR 11.
 *
 * @example
 * ```ts
 * const up: BootPhase = 'ready';
 * ```
 */
export type BootPhase = (typeof BOOT_PHASES)[number];

const SECTIONS_252 = ['.linux', '.osrel', '.cmdline', '.initrd', '.splash', '.dtb', '.pcrpkey'] as const;
const SECTIONS_254 = ['.linux', '.osrel', '.cmdline', '.initrd', '.splash', '.dtb', '.uname', '.sbat', '.pcrpkey'] as const;

/**
 * The systemd-stub release a UKI carries: which sections it measures depends on it.
 *
 * @example
 * ```ts
 * console.log(predictPcr11(uki).stub.version); // '252.39-1~deb12u2'
 * ```
 */
export interface StubRelease {
  /** As the stub spells it: "252.39-1~deb12u2". */
  version: string;
  major: number;
}

/**
 * One extension of the PCR: what was measured and the digest extended.
 *
 * @example
 * ```ts
 * for (const e of predictPcr11(uki).events) console.log(e.what, e.digest);
 * ```
 */
export interface PcrEvent {
  /** `section-name:.linux`, `section:.linux` (its bytes), or `phase:enter-initrd`. */
  what: string;
  digest: string;
}

/**
 * What PCR 11 reads when a UKI has booted: after the stub, and after each boot phase.
 *
 * @example
 * ```ts
 * const p: Pcr11Prediction = predictPcr11(await readFile('imgbuild-usr-a.efi'));
 * console.log(p.uki, p.phases.ready);
 * ```
 */
export interface Pcr11Prediction {
  stub: StubRelease;
  /** Every extension from the stub and the phases, in order. */
  events: PcrEvent[];
  /** PCR 11 after the stub alone (no phase measured: a system without systemd-pcrphase). */
  uki: string;
  /** PCR 11 after each boot phase, cumulative: `phases.ready` is the value on a fully booted system. */
  phases: Record<BootPhase, string>;
}

const sha256 = (b: Buffer | string): Buffer => createHash('sha256').update(b).digest();

/** PCR ← sha256(PCR ‖ digest). */
export function extendPcr(pcr: Buffer, digest: Buffer): Buffer {
  return createHash('sha256').update(pcr).update(digest).digest();
}

/** The stub's release from its `.sdmagic` LoaderInfo string; null when it is not systemd's stub. */
export function stubRelease(sdmagic: Buffer | undefined): StubRelease | null {
  const m = /LoaderInfo: systemd-stub (([0-9]+)[^ #\0]*)/.exec(sdmagic?.toString('latin1') ?? '');
  return m ? { version: m[1], major: Number(m[2]) } : null;
}

/** The release of the stub a UKI carries (null: not systemd's stub). */
export function ukiStubRelease(uki: Buffer): StubRelease | null {
  const s = decodePe(uki).sections.find((x) => x.name === '.sdmagic');
  return stubRelease(s && loadedBytes(uki, s));
}

/** The section names the stub of `release` measures, in the order it measures them. */
export function measuredSections(release: StubRelease): readonly string[] {
  return release.major >= 254 ? SECTIONS_254 : SECTIONS_252;
}

/** A section as the stub sees it in memory: VirtualSize bytes, the part beyond the raw data zero. */
function loadedBytes(buf: Buffer, s: PeSection): Buffer {
  const size = s.virtualSize === 0 ? s.sizeOfRawData : s.virtualSize;
  const raw = Math.min(size, s.sizeOfRawData);
  if (s.pointerToRawData + raw > buf.length) throw new CorruptError(`UKI truncated: section ${s.name} ends past the file`);
  if (raw === size) return buf.subarray(s.pointerToRawData, s.pointerToRawData + size);
  const out = Buffer.alloc(size);
  buf.copy(out, 0, s.pointerToRawData, s.pointerToRawData + raw);
  return out;
}

/** The stub's extensions of PCR 11 for this UKI, in order. */
export function stubEvents(uki: Buffer): { stub: StubRelease; events: PcrEvent[] } {
  const pe = decodePe(uki);
  const byName = new Map(pe.sections.map((s) => [s.name, s]));
  const sdmagic = byName.get('.sdmagic');
  const stub = stubRelease(sdmagic && loadedBytes(uki, sdmagic));
  if (!stub) throw new InputError('UKI has no systemd-stub LoaderInfo in .sdmagic: cannot tell how its stub measures');
  if (!byName.has('.linux')) throw new InputError('not a UKI: no .linux section');
  const events: PcrEvent[] = [];
  for (const name of measuredSections(stub)) {
    const s = byName.get(name);
    if (!s) continue;
    events.push({ what: `section-name:${name}`, digest: sha256(Buffer.from(`${name}\0`, 'latin1')).toString('hex') });
    events.push({ what: `section:${name}`, digest: sha256(loadedBytes(uki, s)).toString('hex') });
  }
  return { stub, events };
}

/**
 * PCR 11 after the stub and after each boot phase, for the UKI `uki` (its file bytes).
 *
 * @example
 * ```ts
 * const p = predictPcr11(await readFile('imgbuild-usr-a.efi'));
 * console.log(`a node up on this UKI reads PCR 11 = ${p.phases.ready}`);
 * ```
 */
export function predictPcr11(uki: Buffer): Pcr11Prediction {
  const { stub, events } = stubEvents(uki);
  let pcr: Buffer = Buffer.alloc(32);
  for (const e of events) pcr = extendPcr(pcr, Buffer.from(e.digest, 'hex'));
  const afterUki = pcr.toString('hex');
  const phases = {} as Record<BootPhase, string>;
  for (const phase of BOOT_PHASES) {
    const digest = sha256(phase);
    events.push({ what: `phase:${phase}`, digest: digest.toString('hex') });
    pcr = extendPcr(pcr, digest);
    phases[phase] = pcr.toString('hex');
  }
  return { stub, events, uki: afterUki, phases };
}

/** What the manifest records per slot UKI (boot.slots.X.pcr11): the stub's release and PCR 11 after each step. */
export interface Pcr11Record {
  stub: string;
  uki: string;
  'enter-initrd': string;
  'leave-initrd': string;
  sysinit: string;
  ready: string;
}

export function pcr11Record(uki: Buffer): Pcr11Record {
  const p = predictPcr11(uki);
  return { stub: `systemd-stub ${p.stub.version}`, uki: p.uki, ...p.phases };
}

/**
 * `{ pcr11 }` for a UKI on systemd's stub, `{}` for another stub: its measurements follow rules this
 * code does not know, and the manifest then says nothing rather than something wrong.
 */
export function pcr11Entry(uki: Buffer): { pcr11?: Pcr11Record } {
  return ukiStubRelease(uki) ? { pcr11: pcr11Record(uki) } : {};
}

/** The step after which `value` is PCR 11 for this record (`uki` or a phase), or null. */
export function pcr11Step(rec: Pcr11Record, value: string): 'uki' | BootPhase | null {
  if (rec.uki === value) return 'uki';
  return BOOT_PHASES.find((p) => rec[p] === value) ?? null;
}
