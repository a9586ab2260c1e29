/**
 * The kernel command line of one slot's UKI. Each slot boots its own UKI, so each line names only its
 * own slot; whoever reads it never chooses (the selector already did).
 *
 *   mount.usr=/dev/mapper/usr mount.usrfstype=<squashfs|erofs> mount.usrflags=ro
 *   usrhash=<hex> systemd.verity_usr_data=PARTUUID=<uuid> systemd.verity_usr_hash=PARTUUID=<uuid>
 *     systemd.verity_usr_options=hash-offset=<bytes>,restart-on-corruption   (a stock systemd ≥ 254 initrd)
 *   verity.usr=PARTUUID=<uuid> verity.usrhash=<hex> verity.usrhashoffset=<bytes>   (Flatcar's names)
 *   imgbuild.slot=<A|B>                                             (our test initramfs's marker)
 *   or imgbuild.version=<v>        a versioned slot's (layout/versioned.ts): its UKI is published before
 *                                  anyone knows which slot it lands in, so it names a version, and a
 *                                  PARTUUID derived from the root hash, never a slot
 *   root=PARTUUID=<uuid> rootfstype=ext4 rw                         (only with a ROOT built from a tree)
 *   console=ttyS0,115200n8 panic=-1 <the user's --cmdline>
 *
 * Data and hash tree share the slot partition (Flatcar's layout), so the systemd set needs
 * `hash-offset=`, which systemd 254 understands and 252 does not (docs/boot.md). A corrupted block of
 * /usr restarts the machine (`restart-on-corruption`) instead of returning I/O errors to a system that
 * cannot go on without its /usr: the selector counts the boot against the slot and, after N of them,
 * boots the other (docs/boot.md, "Self-healing boots").
 */
import { UsageError } from '../errors.js';
import type { Slot } from '../layout/plan.js';

/** What the boot chain needs to open one slot's /usr. */
export interface SlotBootArgs {
  slot: Slot;
  partuuid: string;
  rootHash: string;
  /** Bytes from the partition start to the verity superblock. */
  hashOffset: number;
  /** The filesystem type mount.usrfstype names (squashfs, erofs). */
  fsType: string;
  /** The writable ROOT partition imgbuild formatted (`build --root-tree`): the image's, the same for both slots. */
  rootPartuuid?: string;
  /** A versioned slot's version: `imgbuild.version=` replaces `imgbuild.slot=` (the UKI fits either slot). */
  version?: string;
}

export interface SlotCmdline extends SlotBootArgs {
  /** Everything that is not ours, in order. */
  extra: string[];
}

export const DEFAULT_CONSOLE_ARGS = ['console=ttyS0,115200n8', 'panic=-1'];

/**
 * Keys imgbuild writes; a user's --cmdline may not set them (the last one would win in the kernel).
 * `imgbuild.test=` is the user's: it asks a test OS to power off after its marker (os/files).
 */
const OWNED_KEY = /^(mount\.usr|mount\.usrfstype|mount\.usrflags|usrhash|roothash|systemd\.verity(_[a-z_]+)?|verity\.[^=]+|imgbuild\.(?!test$)[^=]+)$/;
/** Owned as well when imgbuild formats ROOT: the root it names is the one it built. */
const ROOT_KEY = /^(root|rootfstype|rootflags|rw|ro)$/;

const keyOf = (word: string) => (word.includes('=') ? word.slice(0, word.indexOf('=')) : word);
/**
 * The key as the boot reads it: systemd (and dracut) read `rd.KEY=` in the initrd as KEY, and the
 * initrd is where /usr is opened, so a user's `rd.systemd.verity=0` is as strong as `systemd.verity=0`.
 */
const bootKeyOf = (word: string) => keyOf(word).replace(/^rd\./, '');

/** Whether `word` sets a key imgbuild writes, in its plain or its `rd.` form. */
export function isOwnedKey(word: string): boolean {
  return OWNED_KEY.test(bootKeyOf(word));
}

/**
 * A user's extra arguments, split into words. UsageError naming every key imgbuild owns: letting the
 * user set `usrhash=` or `mount.usr=` would silently point the boot at other bytes than the verified
 * ones.
 */
export function userCmdlineArgs(text: string | undefined, source = '--cmdline', opts: { rootOwned?: boolean } = {}): string[] {
  const words = (text ?? '').split(/\s+/).filter(Boolean);
  const owned = words.filter((w) => isOwnedKey(w) || (opts.rootOwned && ROOT_KEY.test(bootKeyOf(w)))).map(keyOf);
  if (owned.length) {
    throw new UsageError(`${source} may not set ${[...new Set(owned)].join(', ')}: imgbuild writes these from the slot it verifies`);
  }
  return words;
}

export function formatCmdline(c: SlotCmdline): string {
  if (!/^[0-9a-f]{2,}$/.test(c.rootHash)) throw new UsageError(`slot ${c.slot}: root hash must be lowercase hex`);
  if (!Number.isSafeInteger(c.hashOffset) || c.hashOffset <= 0) throw new UsageError(`slot ${c.slot}: bad hash offset ${c.hashOffset}`);
  const dev = `PARTUUID=${c.partuuid}`;
  return [
    'mount.usr=/dev/mapper/usr',
    `mount.usrfstype=${c.fsType}`,
    'mount.usrflags=ro',
    `usrhash=${c.rootHash}`,
    `systemd.verity_usr_data=${dev}`,
    `systemd.verity_usr_hash=${dev}`,
    `systemd.verity_usr_options=hash-offset=${c.hashOffset},restart-on-corruption`,
    `verity.usr=${dev}`,
    `verity.usrhash=${c.rootHash}`,
    `verity.usrhashoffset=${c.hashOffset}`,
    c.version ? `imgbuild.version=${c.version}` : `imgbuild.slot=${c.slot}`,
    ...(c.rootPartuuid ? [`root=PARTUUID=${c.rootPartuuid}`, 'rootfstype=ext4', 'rw'] : []),
    ...c.extra,
  ].join(' ');
}

/** Reads back what formatCmdline wrote; fields it cannot find are absent, so callers can name them. */
export function parseCmdline(line: string): Partial<SlotBootArgs> & { extra: string[] } {
  const kv = new Map<string, string>();
  const extra: string[] = [];
  const words = line.trim().split(/\s+/).filter(Boolean);
  // formatCmdline's root triple, where it puts it (right after imgbuild.slot=)
  const slotAt = words.findIndex((w) => w.startsWith('imgbuild.slot=') || w.startsWith('imgbuild.version='));
  let rootPartuuid: string | undefined;
  if (slotAt >= 0 && /^root=PARTUUID=/i.test(words[slotAt + 1] ?? '') && words[slotAt + 2] === 'rootfstype=ext4' && words[slotAt + 3] === 'rw') {
    rootPartuuid = words[slotAt + 1].slice('root=PARTUUID='.length).toLowerCase();
    words.splice(slotAt + 1, 3);
  }
  for (const w of words) {
    // only the plain keys formatCmdline writes; an `rd.` form can only be a user's from before it was refused
    if (OWNED_KEY.test(keyOf(w))) kv.set(keyOf(w), w.slice(keyOf(w).length + 1));
    else extra.push(w);
  }
  const out: Partial<SlotBootArgs> & { extra: string[] } = { extra };
  if (rootPartuuid) out.rootPartuuid = rootPartuuid;
  const slot = kv.get('imgbuild.slot');
  if (slot === 'A' || slot === 'B') out.slot = slot;
  const version = kv.get('imgbuild.version');
  if (version) out.version = version;
  const dev = kv.get('verity.usr') ?? kv.get('systemd.verity_usr_data');
  if (dev) out.partuuid = dev.replace(/^PARTUUID=/i, '').toLowerCase();
  const hash = kv.get('usrhash') ?? kv.get('verity.usrhash');
  if (hash) out.rootHash = hash;
  const offset = kv.get('verity.usrhashoffset');
  if (offset !== undefined && /^\d+$/.test(offset)) out.hashOffset = Number(offset);
  const fs = kv.get('mount.usrfstype');
  if (fs) out.fsType = fs;
  return out;
}
