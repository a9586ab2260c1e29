/**
 * Slots named by version, as systemd-sysupdate names them: the running slot's GPT label is
 * `<name>_<version>` and the spare one `_empty`; each version's UKI is `EFI/Linux/<name>_<version>.efi`;
 * the slot's PARTUUID is the first 128 bits of its /usr root hash (the UAPI convention for verity data
 * partitions, what systemd-repart does). A layout asks for this by labelling its first slot
 * `<name>_@v` and its second `_empty`. The one place these naming rules live: build, update, publish
 * and the sysupdate transfer files (feed/transfers.ts) all ask here.
 */
import { InputError } from '../errors.js';
import type { LayoutPlan, PlannedPartition } from './plan.js';

/** sysupdate's version field in a pattern; in a layout's slot label it stands for the /usr's version. */
export const VERSION_FIELD = '@v';
/** The label of a slot that holds no version (or a half-written one). */
export const EMPTY_LABEL = '_empty';
/** GPT labels are 36 UTF-16 units. */
const LABEL_MAX = 36;

/** Versions are what sysupdate's @v and a FAT file name both take, without `_` (the name's separator). */
const VERSION_RE = /^[A-Za-z0-9][A-Za-z0-9.~+-]*$/;

export interface SlotNaming {
  /** `imgbuild` in `imgbuild_@v`. */
  name: string;
}

/** The layout's versioned naming, or null for lettered slots (USR-A/USR-B). */
export function slotNaming(plan: Pick<LayoutPlan, 'partitions'>): SlotNaming | null {
  const slots = plan.partitions.filter((p) => p.role === 'usr-slot').sort((a, b) => a.number - b.number);
  const m = slots[0] ? /^(.+)_@v$/.exec(slots[0].label) : null;
  return m ? { name: m[1] } : null;
}

/** The naming a running slot's label implies (`imgbuild_3` → imgbuild), or null for a lettered label. */
export function namingOfLabel(label: string): SlotNaming | null {
  const m = /^(.+)_([^_]+)$/.exec(label);
  return m && VERSION_RE.test(m[2]) && !/^[AB]$/i.test(m[2]) ? { name: m[1] } : null;
}

/** `<name>_<version>`, checked: the version's characters and the label's 36-unit limit. */
export function versionedLabel(naming: SlotNaming, version: string | undefined, file?: string): string {
  if (!version) throw new InputError('the /usr image has no IMAGE_VERSION or VERSION_ID in usr/lib/os-release; a layout with versioned slots names the slot by it', { file });
  if (!VERSION_RE.test(version)) throw new InputError(`version ${JSON.stringify(version)}: letters, digits and . ~ + - only (no _, the label's separator)`, { file });
  const label = `${naming.name}_${version}`;
  if (label.length > LABEL_MAX) throw new InputError(`slot label ${label} is longer than a GPT label's ${LABEL_MAX} characters`, { file });
  return label;
}

/** The version a label carries for this naming, or undefined. */
export function versionOfLabel(naming: SlotNaming, label: string): string | undefined {
  const prefix = `${naming.name}_`;
  return label.startsWith(prefix) && VERSION_RE.test(label.slice(prefix.length)) ? label.slice(prefix.length) : undefined;
}

/** The UKI of a versioned slot on the ESP: named after the slot's label, which the selector loads. */
export function versionedUkiPath(label: string): string {
  return `EFI/Linux/${label}.efi`;
}

/** The PARTUUID of the slot holding /usr with this root hash: its first 128 bits (UAPI, systemd-repart). */
export function partuuidFromRootHash(rootHash: string): string {
  if (!/^[0-9a-f]{32,}$/.test(rootHash)) throw new InputError(`root hash ${rootHash} is not lowercase hex of at least 128 bits`);
  const h = rootHash.slice(0, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

/** The two slots of a versioned layout, in table order. */
export function versionedSlots(plan: Pick<LayoutPlan, 'partitions'>): PlannedPartition[] {
  return plan.partitions.filter((p) => p.role === 'usr-slot').sort((a, b) => a.number - b.number);
}
