/** Partition type GUIDs and the aliases a layout may use for them. */
import { ARCHITECTURES, ARCHITECTURE_TABLE } from '../arch.js';
import { isGuid } from '../guid.js';

/** `usr-x86-64`, `usr-arm64-verity`, ...: the UAPI per-architecture types, from the architecture table. */
function uapiAliases(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const a of ARCHITECTURES) {
    const t = ARCHITECTURE_TABLE[a].partitionTypes;
    Object.assign(out, { [`usr-${a}`]: t.usr, [`usr-${a}-verity`]: t.usrVerity, [`usr-${a}-verity-sig`]: t.usrVeritySig, [`root-${a}`]: t.root, [`root-${a}-verity`]: t.rootVerity });
  }
  return out;
}

/**
 * The partition type GUIDs imgbuild knows by name (`esp`, `flatcar-usr`, `usr-x86-64`, `linux`, …):
 * the names layouts use and displays show.
 *
 * @example
 * ```ts
 * TYPE_ALIASES.esp; // 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b'
 * ```
 */
export const TYPE_ALIASES: Readonly<Record<string, string>> = {
  efi: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b',
  esp: 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b',
  bios: '21686148-6449-6e6f-744e-656564454649',
  'flatcar-usr': '5dfbf5f4-2848-4bac-aa5e-0d9a20b745a6',
  'coreos-usr': '5dfbf5f4-2848-4bac-aa5e-0d9a20b745a6',
  'flatcar-resize': '3884dd41-8582-4404-b9a8-e9b84f2df50e',
  'coreos-resize': '3884dd41-8582-4404-b9a8-e9b84f2df50e',
  'flatcar-reserved': 'c95dc21a-df0e-4340-8d7b-26cbfa9a03e0',
  'coreos-reserved': 'c95dc21a-df0e-4340-8d7b-26cbfa9a03e0',
  'linux-data': '0fc63daf-8483-4772-8e79-3d69d8477de4',
  linux: '0fc63daf-8483-4772-8e79-3d69d8477de4',
  ...uapiAliases(),
  xbootldr: 'bc13c2ff-59e6-4262-a352-b275fd6f7172',
  'chromeos-kernel': 'fe3a2a5d-4f32-41a7-b725-accc3285a309',
  'chromeos-rootfs': '3cb8e202-3b7e-47dd-8a3c-7ff2a13cfcec',
};

/**
 * Resolves an alias or GUID; returns undefined for unknown aliases.
 *
 * @example
 * ```ts
 * resolveType('esp'); // 'c12a7328-f81f-11d2-ba4b-00a0c93ec93b'
 * resolveType('no-such'); // undefined
 * ```
 */
export function resolveType(typeOrAlias: string): string | undefined {
  const lower = typeOrAlias.toLowerCase();
  if (isGuid(lower)) return lower;
  return TYPE_ALIASES[lower];
}

/**
 * The preferred alias for a type GUID, for display.
 *
 * @example
 * ```ts
 * typeName('c12a7328-f81f-11d2-ba4b-00a0c93ec93b'); // 'efi'
 * ```
 */
export function typeName(guid: string): string | undefined {
  for (const [alias, g] of Object.entries(TYPE_ALIASES)) if (g === guid) return alias;
  return undefined;
}
