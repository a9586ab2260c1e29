/**
 * What a kernel file is, from its boot header: an x86 bzImage or an arm64 `Image`. Pure. The UKI
 * builder and `build`/`update` use it to refuse a kernel of the wrong architecture before anything is
 * written, naming both.
 */
import { archFacts, type Architecture } from '../arch.js';
import { InputError } from '../errors.js';

export interface KernelInfo {
  arch: Architecture;
  /** The longest command line this kernel takes (excluding the NUL). */
  maxCmdline: number;
}

/** arm64 Image header (Documentation/arch/arm64/booting.rst): "ARM\x64" at 0x38, the PE header offset at 0x3c. */
const ARM64_MAGIC_AT = 0x38;
const ARM64_MAGIC = 0x644d5241;
/** arm64's COMMAND_LINE_SIZE is 2048 (the header does not say); the kernel takes 2047 characters. */
const ARM64_MAX_CMDLINE = 2047;

/** The kernel's architecture and limits, or undefined when it is neither a bzImage nor an arm64 Image. */
export function kernelInfo(kernel: Buffer): KernelInfo | undefined {
  if (kernel.length >= 0x260 && kernel.readUInt16LE(0x1fe) === 0xaa55 && kernel.toString('latin1', 0x202, 0x206) === 'HdrS') {
    const version = kernel.readUInt16LE(0x206); // boot protocol version
    return { arch: 'x86-64', maxCmdline: version >= 0x206 ? kernel.readUInt32LE(0x238) : 255 }; // cmdline_size
  }
  if (kernel.length >= 0x40 && kernel.readUInt32LE(ARM64_MAGIC_AT) === ARM64_MAGIC) return { arch: 'arm64', maxCmdline: ARM64_MAX_CMDLINE };
  return undefined;
}

const FORMAT_NAME = { bzImage: 'an x86 bzImage', 'arm64-image': 'an arm64 Image' } as const;

/**
 * Checks that the kernel boots on `arch` and takes a command line of `cmdlineBytes`. Throws InputError
 * naming what the kernel is when it is another architecture's (or no kernel at all).
 */
export function checkKernel(kernel: Buffer, arch: Architecture, cmdlineBytes = 0): KernelInfo {
  const want = FORMAT_NAME[archFacts(arch).kernelFormat];
  const info = kernelInfo(kernel);
  if (!info) throw new InputError(`kernel is not ${want} (no ${arch === 'x86-64' ? 'boot_flag 0xAA55 / "HdrS" boot protocol header' : '"ARM\\x64" magic at 0x38'})`);
  if (info.arch !== arch) throw new InputError(`kernel is ${FORMAT_NAME[archFacts(info.arch).kernelFormat]} (${info.arch}), but the image is ${arch}: give ${want}`);
  if (cmdlineBytes > info.maxCmdline) throw new InputError(`kernel command line is ${cmdlineBytes} bytes, this kernel takes at most ${info.maxCmdline}`);
  return info;
}
