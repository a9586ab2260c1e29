/**
 * Extensions of /usr and of /etc are one pipeline with two targets: systemd-sysext merges system
 * extensions over /usr (and /opt), systemd-confext, the same binary under another name, merges
 * configuration extensions over /etc. What differs between the two is here, and only here:
 * the hierarchies a tree may hold, where the extension-release file lives and which level key it
 * carries, and where a node keeps the images (systemd 254's search paths; facts in
 * shared/reference/provisioning-facts.md). The image itself (a DDI: root + root-verity) is the same.
 */
/**
 * Which hierarchy an extension extends: /usr (sysext) or /etc (confext).
 *
 * @example
 * ```ts
 * const kind: ExtensionKind = 'confext';
 * console.log(extensionTarget(kind).tool); // systemd-confext
 * ```
 */
export type ExtensionKind = 'sysext' | 'confext';
export const EXTENSION_KINDS: readonly ExtensionKind[] = ['sysext', 'confext'];

/**
 * What differs between a system and a configuration extension: hierarchies, release file, level key, node folders.
 *
 * @example
 * ```ts
 * const t: ExtensionTarget = extensionTarget('confext');
 * console.log(t.hierarchies, t.releaseDir, t.mergeDir);
 * ```
 */
export interface ExtensionTarget {
  kind: ExtensionKind;
  /** The systemd tool that merges it, in messages. */
  tool: 'systemd-sysext' | 'systemd-confext';
  /** What the tool merges: the only folders a tree may hold at its top. */
  hierarchies: readonly string[];
  /** Where the extension-release file sits inside the tree. */
  releaseDir: string;
  /** The key a host can pin instead of VERSION_ID=, and the flag that sets it. */
  levelKey: 'SYSEXT_LEVEL' | 'CONFEXT_LEVEL';
  levelFlag: '--sysext-level' | '--confext-level';
  /** On a node: the versioned images systemd-sysupdate keeps, and the folder the tool merges from. */
  targetDir: string;
  mergeDir: string;
  /** "system extension", "configuration extension". */
  noun: string;
}

export const EXTENSION_TARGETS: Record<ExtensionKind, ExtensionTarget> = {
  sysext: {
    kind: 'sysext',
    tool: 'systemd-sysext',
    // systemd 252 (Debian 12) already documents both /usr and /opt in systemd-sysext(8)
    hierarchies: ['usr', 'opt'],
    releaseDir: 'usr/lib/extension-release.d',
    levelKey: 'SYSEXT_LEVEL',
    levelFlag: '--sysext-level',
    targetDir: '/var/lib/extensions.d',
    mergeDir: '/var/lib/extensions',
    noun: 'system extension',
  },
  confext: {
    kind: 'confext',
    tool: 'systemd-confext',
    hierarchies: ['etc'],
    releaseDir: 'etc/extension-release.d',
    levelKey: 'CONFEXT_LEVEL',
    levelFlag: '--confext-level',
    // systemd-confext 254 searches /run/confexts, /var/lib/confexts, /usr/lib/confexts, /usr/local/lib/confexts
    targetDir: '/var/lib/confexts.d',
    mergeDir: '/var/lib/confexts',
    noun: 'configuration extension',
  },
};

/**
 * The facts of one extension kind.
 *
 * @example
 * ```ts
 * console.log(extensionTarget('sysext').hierarchies); // ['usr', 'opt']
 * ```
 */
export function extensionTarget(kind: ExtensionKind = 'sysext'): ExtensionTarget {
  return EXTENSION_TARGETS[kind];
}
