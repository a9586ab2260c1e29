/**
 * `usr/lib/extension-release.d/extension-release.NAME` (a configuration extension's:
 * `etc/extension-release.d/…`): the os-release-style file by which systemd-sysext (systemd-confext)
 * decides whether an extension fits the host (systemd-sysext(8), as of systemd 252: ID= must equal the
 * host's ID unless it is "_any"; then SYSEXT_LEVEL= (CONFEXT_LEVEL=) if set, else VERSION_ID=, must
 * match; ARCHITECTURE=, unless "_any", must be the kernel's).
 */
import { UsageError } from '../errors.js';
import { extensionTarget, type ExtensionKind } from './kind.js';
import type { SysextArch } from './naming.js';

export const EXTENSION_RELEASE_DIR = extensionTarget('sysext').releaseDir;

export function extensionReleasePath(name: string, kind: ExtensionKind = 'sysext'): string {
  return `${extensionTarget(kind).releaseDir}/extension-release.${name}`;
}

export interface ExtensionReleaseFacts {
  /** Which tool reads the file (default sysext): the level key is SYSEXT_LEVEL= or CONFEXT_LEVEL=. */
  kind?: ExtensionKind;
  /** The host OS ID= this extension is for, or "_any". */
  osId: string;
  /** SYSEXT_LEVEL= (CONFEXT_LEVEL= for a configuration extension) the host must have. */
  level?: string;
  versionId?: string;
  arch: SysextArch;
}

/** The keys we write, in the order we write them. */
export type ReleaseKey = 'ID' | 'SYSEXT_LEVEL' | 'CONFEXT_LEVEL' | 'VERSION_ID' | 'ARCHITECTURE';

// os-release(5) values we accept unquoted: ID= is lowercase [a-z0-9._-]; the others are version-like.
const ID_RE = /^(_any|[a-z0-9][a-z0-9._-]*)$/;
const LEVEL_RE = /^[A-Za-z0-9][A-Za-z0-9._+~^-]*$/;

/** Checks the facts; a host-specific ID needs SYSEXT_LEVEL= or VERSION_ID=, or systemd refuses the image. */
export function checkReleaseFacts(f: ExtensionReleaseFacts): ExtensionReleaseFacts {
  const t = extensionTarget(f.kind);
  if (!ID_RE.test(f.osId)) throw new UsageError(`--os-id must be "_any" or an os-release ID (lowercase letters, digits, . _ -), got "${f.osId}"`);
  if (f.level !== undefined && !LEVEL_RE.test(f.level)) throw new UsageError(`${t.levelFlag} must be a version-like word, got "${f.level}"`);
  if (f.versionId !== undefined && !LEVEL_RE.test(f.versionId)) throw new UsageError(`--os-version-id must be a version-like word, got "${f.versionId}"`);
  if (f.osId !== '_any' && f.level === undefined && f.versionId === undefined) {
    throw new UsageError(`--os-id ${f.osId} needs ${t.levelFlag} or --os-version-id: ${t.tool} refuses an extension for a named OS that carries neither (or use --os-id _any)`);
  }
  return f;
}

/** The key/value pairs the facts stand for. */
export function releaseEntries(f: ExtensionReleaseFacts): [ReleaseKey, string][] {
  const e: [ReleaseKey, string][] = [['ID', f.osId]];
  if (f.level !== undefined) e.push([extensionTarget(f.kind).levelKey, f.level]);
  if (f.versionId !== undefined) e.push(['VERSION_ID', f.versionId]);
  e.push(['ARCHITECTURE', f.arch]);
  return e;
}

export function renderExtensionRelease(f: ExtensionReleaseFacts): string {
  return releaseEntries(f).map(([k, v]) => `${k}=${v}\n`).join('');
}

/** Parses os-release(5) text: KEY=value lines, values optionally in single or double quotes. */
export function parseOsRelease(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    let v = m[2];
    const q = v[0];
    if ((q === '"' || q === "'") && v.length >= 2 && v.endsWith(q)) {
      v = v.slice(1, -1);
      if (q === '"') v = v.replace(/\\(["\\$`])/g, '$1');
    }
    out.set(m[1], v);
  }
  return out;
}

export interface ReleaseDisagreement {
  key: ReleaseKey;
  inTree: string;
  fromFlags: string;
}

/** Keys the tree's own file sets to a value other than the flags'. */
export function releaseDisagreements(treeText: string, f: ExtensionReleaseFacts): ReleaseDisagreement[] {
  const tree = parseOsRelease(treeText);
  return releaseEntries(f)
    .filter(([k, v]) => tree.has(k) && tree.get(k) !== v)
    .map(([key, fromFlags]) => ({ key, inTree: tree.get(key)!, fromFlags }));
}

/**
 * The file to put in the image when the tree already carries one that agrees with the flags: the
 * tree's text kept as it is (its comments and extra keys too), with the keys it lacks appended.
 */
export function mergeExtensionRelease(treeText: string, f: ExtensionReleaseFacts): string {
  const tree = parseOsRelease(treeText);
  const missing = releaseEntries(f).filter(([k]) => !tree.has(k));
  const base = treeText.length === 0 || treeText.endsWith('\n') ? treeText : `${treeText}\n`;
  return base + missing.map(([k, v]) => `${k}=${v}\n`).join('');
}
