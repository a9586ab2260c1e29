/**
 * The machine architectures imgbuild builds images for, and every fact that differs between them, in
 * one table: partition types, the EFI names, the UKI stub, the kernel format, qemu and its firmware.
 * Everything else in the chain (the selector's C source, the GPT, verity, the A/B bits, the ESP) is the
 * same on both. packages/efi-select/build.sh builds the selector under the same EFI names.
 * Pure data; imports nothing.
 */

/**
 * systemd's and the UAPI specifications' names (`ARCHITECTURE=`, `usr-arm64`).
 *
 * @example
 * ```ts
 * for (const a of ARCHITECTURES) console.log(a); // x86-64, arm64
 * ```
 */
export const ARCHITECTURES = ['x86-64', 'arm64'] as const;
/**
 * A machine architecture: `x86-64` or `arm64`.
 *
 * @example
 * ```ts
 * await buildImage({ ...options, arch: 'arm64' satisfies Architecture });
 * ```
 */
export type Architecture = (typeof ARCHITECTURES)[number];
export const DEFAULT_ARCHITECTURE: Architecture = 'x86-64';

/** Other spellings users type for them (the GNU, Debian and kernel names). */
const ARCHITECTURE_ALIASES: Readonly<Record<string, Architecture>> = {
  'x86-64': 'x86-64',
  x86_64: 'x86-64',
  amd64: 'x86-64',
  arm64: 'arm64',
  aarch64: 'arm64',
};
/**
 * Every name {@link parseArchitecture} accepts (`x86-64`, `x86_64`, `amd64`, `arm64`, `aarch64`).
 *
 * @example
 * ```ts
 * console.log(`--arch takes ${ARCHITECTURE_NAMES.join(', ')}`);
 * ```
 */
export const ARCHITECTURE_NAMES = Object.keys(ARCHITECTURE_ALIASES);

/** The UAPI Discoverable Partitions types of one architecture. */
export interface ArchPartitionTypes {
  root: string;
  rootVerity: string;
  usr: string;
  usrVerity: string;
  usrVeritySig: string;
}

export interface QemuMachine {
  binary: string;
  /** The Debian package that ships the binary. */
  package: string;
  /** `-machine` without the accelerator. */
  machine: string;
  /** Further arguments (CPU, ...). */
  args: readonly string[];
  /** Under Secure Boot: more `-machine` options (SMM where the firmware needs it), and extra arguments. */
  secureBootMachineOptions: string | null;
  secureBootArgs: readonly string[];
}

export interface UefiFirmware {
  /** The Debian package that ships the files. */
  package: string;
  code: string;
  vars: string;
  /** The build with Secure Boot, and vars enrolling Debian's snakeoil certificate as PK, KEK and db. */
  secureBootCode: string;
  snakeoilVars: string;
  /** The snakeoil certificate and key (the key's password is `snakeoil`). */
  snakeoilCert: string;
  snakeoilKey: string;
  /** The layout of its vars file, for writing one that enrolls a certificate (boot/ovmf-vars.ts). */
  varStore: 'ovmf-4m' | 'aavmf';
}

export interface ArchitectureFacts {
  name: Architecture;
  /** UEFI's name: `EFI/BOOT/BOOT<EFI>.EFI`, systemd's `linux<efi>.efi.stub`, the selector's build. */
  efi: 'x64' | 'aa64';
  /** Debian's name (packages, kernel flavour). */
  debian: 'amd64' | 'arm64';
  /** The PE/COFF Machine field of its EFI binaries. */
  peMachine: number;
  /** What a kernel file is: an x86 bzImage, or an arm64 `Image` (a PE with the arm64 header). */
  kernelFormat: 'bzImage' | 'arm64-image';
  partitionTypes: ArchPartitionTypes;
  /** The removable-media path every UEFI firmware of this architecture starts: the selector's place. */
  selectorEspPath: string;
  /** systemd-boot-efi's stub for UKIs (Debian). */
  ukiStub: string;
  /**
   * What fills unused header space in that stub: zeros, or (arm64: gnu-efi's hand-made PE header, a
   * code section aligned by the assembler) the NOP instruction, little-endian. The UKI builder puts its
   * section headers over such fill and nothing else.
   */
  stubHeaderFill: readonly number[];
  qemu: QemuMachine;
  firmware: UefiFirmware;
}

const OVMF = '/usr/share/OVMF';
const AAVMF = '/usr/share/AAVMF';

export const ARCHITECTURE_TABLE: Readonly<Record<Architecture, ArchitectureFacts>> = {
  'x86-64': {
    name: 'x86-64',
    efi: 'x64',
    debian: 'amd64',
    peMachine: 0x8664,
    kernelFormat: 'bzImage',
    partitionTypes: {
      root: '4f68bce3-e8cd-4db1-96e7-fbcaf984b709',
      rootVerity: '2c7357ed-ebd2-46d9-aec1-23d437ec2bf5',
      usr: '8484680c-9521-48c6-9c11-b0720656f69e',
      usrVerity: '77ff5f63-e7b6-4633-acf4-1565b864c0e6',
      usrVeritySig: 'e7bb33fb-06cf-4e81-8273-e543b413e2e2',
    },
    selectorEspPath: 'EFI/BOOT/BOOTX64.EFI',
    ukiStub: '/usr/lib/systemd/boot/efi/linuxx64.efi.stub',
    stubHeaderFill: [0x00],
    qemu: {
      binary: 'qemu-system-x86_64',
      package: 'qemu-system-x86',
      machine: 'q35',
      args: [],
      // OVMF's Secure Boot build keeps its variable store writable from SMM only
      secureBootMachineOptions: 'smm=on',
      secureBootArgs: ['-global', 'driver=cfi.pflash01,property=secure,value=on'],
    },
    firmware: {
      package: 'ovmf',
      code: `${OVMF}/OVMF_CODE_4M.fd`,
      vars: `${OVMF}/OVMF_VARS_4M.fd`,
      secureBootCode: `${OVMF}/OVMF_CODE_4M.secboot.fd`,
      snakeoilVars: `${OVMF}/OVMF_VARS_4M.snakeoil.fd`,
      snakeoilCert: '/usr/share/ovmf/PkKek-1-snakeoil.pem',
      snakeoilKey: '/usr/share/ovmf/PkKek-1-snakeoil.key',
      varStore: 'ovmf-4m',
    },
  },
  arm64: {
    name: 'arm64',
    efi: 'aa64',
    debian: 'arm64',
    peMachine: 0xaa64,
    kernelFormat: 'arm64-image',
    partitionTypes: {
      root: 'b921b045-1df0-41c3-af44-4c6f280d3fae',
      rootVerity: 'df3300ce-d69f-4c92-978c-9bfb0f38d820',
      usr: 'b0e01050-ee5f-4390-949a-9101b17104e9',
      usrVerity: '6e11a4e7-fbca-4ded-b9e9-e1a512bb664e',
      usrVeritySig: 'c23ce4ff-44bd-4b00-b2d4-b41b3419e02a',
    },
    selectorEspPath: 'EFI/BOOT/BOOTAA64.EFI',
    ukiStub: '/usr/lib/systemd/boot/efi/linuxaa64.efi.stub',
    stubHeaderFill: [0x1f, 0x20, 0x03, 0xd5], // NOP (0xd503201f)
    qemu: {
      binary: 'qemu-system-aarch64',
      package: 'qemu-system-arm',
      machine: 'virt',
      args: ['-cpu', 'cortex-a72'],
      // AAVMF has no SMM: the same machine, its build already verifies signatures once keys are enrolled
      secureBootMachineOptions: null,
      secureBootArgs: [],
    },
    firmware: {
      package: 'qemu-efi-aarch64',
      code: `${AAVMF}/AAVMF_CODE.fd`,
      vars: `${AAVMF}/AAVMF_VARS.fd`,
      secureBootCode: `${AAVMF}/AAVMF_CODE.fd`,
      snakeoilVars: `${AAVMF}/AAVMF_VARS.snakeoil.fd`,
      snakeoilCert: '/usr/share/qemu-efi-aarch64/PkKek-1-snakeoil.pem',
      snakeoilKey: '/usr/share/qemu-efi-aarch64/PkKek-1-snakeoil.key',
      varStore: 'aavmf',
    },
  },
};

/** The facts of one architecture (x86-64 when none is given: images built before arm64 existed). */
export function archFacts(arch: Architecture = DEFAULT_ARCHITECTURE): ArchitectureFacts {
  return ARCHITECTURE_TABLE[arch];
}

/**
 * `arm64`, `aarch64`, `x86-64`, `x86_64`, `amd64` → the architecture; undefined for anything else.
 *
 * @example
 * ```ts
 * parseArchitecture('aarch64'); // 'arm64'
 * parseArchitecture('riscv64'); // undefined
 * ```
 */
export function parseArchitecture(name: string): Architecture | undefined {
  return ARCHITECTURE_ALIASES[name.toLowerCase()];
}

/** The architecture whose EFI binaries carry this PE Machine value. */
export function archOfPeMachine(machine: number): Architecture | undefined {
  return ARCHITECTURES.find((a) => ARCHITECTURE_TABLE[a].peMachine === machine);
}

/** The architecture whose removable-media boot path this is (case-insensitive, FAT). */
export function archOfSelectorPath(path: string): Architecture | undefined {
  return ARCHITECTURES.find((a) => ARCHITECTURE_TABLE[a].selectorEspPath.toUpperCase() === path.toUpperCase());
}

/** The architecture a UAPI per-architecture partition type belongs to; undefined for any other type. */
export function archOfPartitionType(guid: string): Architecture | undefined {
  const g = guid.toLowerCase();
  return ARCHITECTURES.find((a) => Object.values(ARCHITECTURE_TABLE[a].partitionTypes).includes(g));
}
