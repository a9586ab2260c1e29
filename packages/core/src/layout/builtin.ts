/**
 * The built-in layouts. USR-A and USR-B keep Flatcar's fixed partition UUIDs in all of them, so
 * `verity.usr=PARTUUID=...` means the same thing on every image.
 */
import type { LayoutSpec, PartitionSpec } from './spec.js';

export const USR_A_UUID = '7130c94a-213a-4e5a-8e26-6cce9662f132';
export const USR_B_UUID = 'e03dd35c-7c2d-4a47-b3fe-27f15780a57c';

/** A fresh image boots A: priority 1, tries 0, successful 1. B is empty: all zero. */
const SLOT_A_INITIAL = { priority: 1, tries: 0, successful: true };

function flatcarPartitions(sizes: { esp: PartitionSpec['size']; usr: PartitionSpec['size']; oem: PartitionSpec['size']; root: PartitionSpec['size'] }): PartitionSpec[] {
  return [
    { number: 1, label: 'EFI-SYSTEM', type: 'efi', size: sizes.esp, role: 'esp', attributes: { legacyBiosBootable: true } },
    { number: 2, label: 'BIOS-BOOT', type: 'bios', size: '2MiB', role: 'bios-boot' },
    { number: 3, label: 'USR-A', type: 'flatcar-usr', uuid: USR_A_UUID, size: sizes.usr, role: 'usr-slot', attributes: SLOT_A_INITIAL },
    { number: 4, label: 'USR-B', type: 'flatcar-usr', uuid: USR_B_UUID, size: sizes.usr, role: 'usr-slot' },
    { number: 6, label: 'OEM', type: 'linux-data', size: sizes.oem, role: 'oem' },
    { number: 7, label: 'OEM-CONFIG', type: 'flatcar-reserved', size: '64MiB', role: 'oem-config' },
    { number: 9, label: 'ROOT', type: 'flatcar-resize', size: sizes.root, role: 'root' },
  ];
}

/**
 * Slots named by version for systemd-sysupdate (layout/versioned.ts): slot 3 carries `imgbuild_<version>`
 * from the build on, slot 4 starts `_empty`. Flatcar's /usr type (the blessing's and the selector's),
 * fixed UUIDs for none of the slots: a versioned slot's PARTUUID comes from its root hash.
 */
function sysupdatePartitions(sizes: { esp: PartitionSpec['size']; usr: PartitionSpec['size']; root: PartitionSpec['size'] }): PartitionSpec[] {
  return [
    { number: 1, label: 'EFI-SYSTEM', type: 'efi', size: sizes.esp, role: 'esp' },
    // read-only (bit 60), as sysupdate's ReadOnly=1 marks every slot it installs
    { number: 3, label: 'imgbuild_@v', type: 'flatcar-usr', size: sizes.usr, role: 'usr-slot', attributes: { ...SLOT_A_INITIAL, readOnly: true } },
    { number: 4, label: '_empty', type: 'flatcar-usr', size: sizes.usr, role: 'usr-slot' },
    { number: 9, label: 'ROOT', type: 'flatcar-resize', size: sizes.root, role: 'root' },
  ];
}

/**
 * The built-in layouts by name, as specs (what a layout file holds).
 *
 * @example
 * ```ts
 * const spec = BUILTIN_LAYOUTS.flatcar;
 * console.log(spec.partitions.map((p) => p.label)); // ['EFI-SYSTEM', 'BIOS-BOOT', 'USR-A', 'USR-B', …]
 * ```
 */
export const BUILTIN_LAYOUTS: Readonly<Record<string, LayoutSpec>> = {
  /** Flatcar's legacy base layout, sector for sector (disk of 9289728 sectors). */
  flatcar: {
    name: 'flatcar',
    description: "Flatcar's legacy base layout: 128 MiB ESP, 1 GiB USR slots, exact legacy sectors",
    sectorSize: 512,
    alignment: { sectors: 4096 },
    diskSize: { sectors: 9289728 },
    partitions: flatcarPartitions({ esp: '128MiB', usr: '1GiB', oem: '128MiB', root: { sectors: 4427776 } }).map((p) => ({
      ...p,
      start: { 1: 4096, 2: 266240, 3: 270336, 4: 2367488, 6: 4464640, 7: 4726784, 9: 4857856 }[p.number],
    })),
  },
  /** Flatcar's current sizes. ROOT is grown on first boot; the image itself stays sparse. */
  'flatcar-2025': {
    name: 'flatcar-2025',
    description: "Flatcar's current base layout: 1 GiB ESP, 2 GiB USR slots, 1 GiB OEM",
    sectorSize: 512,
    alignment: { sectors: 4096 },
    diskSize: 'auto',
    partitions: flatcarPartitions({ esp: '1GiB', usr: '2GiB', oem: '1GiB', root: '2GiB' }),
  },
  /** Slots named by version, updated on the node by systemd-sysupdate from a published feed. */
  sysupdate: {
    name: 'sysupdate',
    description: 'A/B /usr slots named by version for systemd-sysupdate (imgbuild_<version>, _empty): 128 MiB ESP, 512 MiB USR slots',
    sectorSize: 512,
    alignment: { sectors: 4096 },
    diskSize: 'auto',
    partitions: sysupdatePartitions({ esp: '128MiB', usr: '512MiB', root: '256MiB' }),
  },
  /**
   * The same, sized for the example OS (a 150 MB /usr, a 48 MB UKI) with a third to spare: for tests.
   * A slot's payload runs to the end of its verity tree near the slot's end, so the slot size is what a
   * node downloads (compressed) and writes; 512 MiB slots made each update under TCG take minutes more.
   */
  'sysupdate-mini': {
    name: 'sysupdate-mini',
    description: 'sysupdate sized for the example OS, for tests: 128 MiB ESP, 192 MiB USR slots',
    sectorSize: 512,
    alignment: { sectors: 4096 },
    diskSize: 'auto',
    partitions: sysupdatePartitions({ esp: '128MiB', usr: '192MiB', root: '64MiB' }),
  },
  /** Same partitions and UUIDs, small sizes: for tests, CI and the demo. */
  mini: {
    name: 'mini',
    description: 'Flatcar partitions at small sizes for tests and demos: 64 MiB ESP, 128 MiB USR slots',
    sectorSize: 512,
    alignment: { sectors: 4096 },
    diskSize: 'auto',
    partitions: flatcarPartitions({ esp: '64MiB', usr: '128MiB', oem: '16MiB', root: '32MiB' }).map((p) =>
      p.number === 7 ? { ...p, size: '8MiB' } : p,
    ),
  },
};

/**
 * The names of the built-in layouts, for a choice list.
 *
 * @example
 * ```ts
 * console.log(BUILTIN_LAYOUT_NAMES.join(', ')); // 'flatcar, flatcar-2025, mini'
 * ```
 */
export const BUILTIN_LAYOUT_NAMES = Object.keys(BUILTIN_LAYOUTS);
