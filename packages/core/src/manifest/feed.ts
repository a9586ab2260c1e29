/**
 * A feed's file names and its channel index: the one place they are spelled. systemd-sysupdate finds a
 * version's files by these names (feed/transfers.ts turns them into its MatchPattern= lines), so the
 * names carry what sysupdate needs: the version (@v) and, for the payload, the PARTUUID (@u).
 *
 *   FEED/<channel>                  a symlink to the channel's current generation (replaced atomically)
 *   FEED/.<channel>.<n>/
 *     SHA256SUMS, SHA256SUMS.gpg    every file below; the detached OpenPGP signature over it
 *     index.json                    the versions (FeedIndex)
 *     <name>_<v>_<uuid>.usr.gz      the slot payload: /usr, zeros, verity superblock + tree at the hash offset
 *     <name>_<v>.efi                the version's UKI
 *     <name>_<v>.manifest.json      the version's manifest (FeedVersionManifest)
 */
import type { SlotBootManifest, SlotManifest } from './schema.js';

export const FEED_FORMAT = 'imgbuild-feed/1';
export const SUMS = 'SHA256SUMS';
export const SUMS_SIG = 'SHA256SUMS.gpg';
export const INDEX = 'index.json';
/** gzip: systemd 254 decompresses xz, gzip and bzip2, not zstd. */
export const PAYLOAD_SUFFIX = '.usr.gz';

export const payloadName = (label: string, partuuid: string) => `${label}_${partuuid}${PAYLOAD_SUFFIX}`;
export const ukiName = (label: string) => `${label}.efi`;
export const manifestName = (label: string) => `${label}.manifest.json`;
/** sysupdate's source patterns for the same names. */
export const payloadPattern = (name: string) => `${name}_@v_@u${PAYLOAD_SUFFIX}`;
export const ukiPattern = (name: string) => `${name}_@v.efi`;

/** One version in a channel, as the channel's index lists it. */
export interface FeedIndexEntry {
  version: string;
  label: string;
  rootHash: string;
  partuuid: string;
  payload: string;
  uki: string;
  manifest: string;
}

export interface FeedIndex {
  format: typeof FEED_FORMAT;
  channel: string;
  /** The slot naming's name: `imgbuild` in `imgbuild_<version>`. */
  name: string;
  /** Oldest first. */
  versions: FeedIndexEntry[];
}

/** What a version is, for `verify --feed-manifest`: the slot and boot records an update would write. */
export interface FeedVersionManifest {
  format: typeof FEED_FORMAT;
  channel: string;
  version: string;
  /** The slot as the manifest of an image updated to this version records it (partition number aside). */
  slot: Omit<SlotManifest, 'partition'>;
  /** The UKI as the image manifest records it; `uki` is its ESP path once installed. */
  boot: SlotBootManifest;
  payload: { file: string; sha256: string; bytes: number; compression: 'gzip'; uncompressedBytes: number; uncompressedSha256: string };
  ukiFile: { file: string; sha256: string; bytes: number };
}

const CHANNEL_RE = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
export function isChannelName(s: string): boolean {
  return CHANNEL_RE.test(s) && !s.includes('..');
}
