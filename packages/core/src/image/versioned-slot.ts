/**
 * What a versioned slot (layout/versioned.ts) holds besides its /usr bytes, decided in one place for
 * `build`, `update` and `publish`: its label, its PARTUUID (from the root hash), its UKI's path and
 * command line. The /usr bytes themselves are image/slot-writer.ts's with versionedSuperblockUuid
 * (writeUsrToSlot into a partition, slotPayload as a stream), so the three write the same bytes for
 * the same inputs, whichever slot and image they land in.
 */
import { formatCmdline } from '../boot/cmdline.js';
import { partuuidFromRootHash, versionedLabel, versionedUkiPath, type SlotNaming } from '../layout/versioned.js';
import type { Slot } from '../layout/plan.js';
import { cloneTable, type GptTable } from '../gpt/table.js';
import { findSlots } from '../slot/state.js';

export interface VersionedSlotBoot {
  label: string;
  partuuid: string;
  ukiPath: string;
  cmdline: string;
}

export function versionedSlotBoot(o: {
  naming: SlotNaming;
  version: string | undefined;
  /** For messages only: the command line names no slot. */
  slot: Slot;
  rootHash: string;
  hashOffset: number;
  fsType: string;
  rootPartuuid?: string;
  extra: string[];
  /** The /usr image, named in errors. */
  file?: string;
}): VersionedSlotBoot {
  const label = versionedLabel(o.naming, o.version, o.file);
  const version = label.slice(o.naming.name.length + 1);
  const partuuid = partuuidFromRootHash(o.rootHash);
  const cmdline = formatCmdline({ slot: o.slot, partuuid, rootHash: o.rootHash, hashOffset: o.hashOffset, fsType: o.fsType, rootPartuuid: o.rootPartuuid, extra: o.extra, version });
  return { label, partuuid, ukiPath: versionedUkiPath(label), cmdline };
}

/** The read-only attribute (bit 60) sysupdate's ReadOnly=1 sets on a slot it installs. */
const READ_ONLY = 1n << 60n;

/**
 * A copy of `table` with slot `slot`'s label changed, and when installing (a PARTUUID given) its
 * PARTUUID and the read-only bit: what sysupdate does on install, so offline and on-node updates
 * leave the same entry.
 */
export function relabelSlot(table: GptTable, slot: Slot, change: { label: string; uuid?: string }): GptTable {
  const t = cloneTable(table);
  const n = findSlots(table).find((s) => s.slot === slot)!.number;
  const e = t.entries[n - 1];
  t.entries[n - 1] = { ...e, name: change.label, ...(change.uuid ? { uuid: change.uuid, attributes: e.attributes | READ_ONLY } : {}) };
  return t;
}
