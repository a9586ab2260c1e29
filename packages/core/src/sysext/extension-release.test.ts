import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import { checkReleaseFacts, extensionReleasePath, mergeExtensionRelease, parseOsRelease, releaseDisagreements, renderExtensionRelease } from './extension-release.js';

describe('extension-release', () => {
  it('lives where systemd-sysext (systemd-confext) looks for it', () => {
    expect(extensionReleasePath('hello')).toBe('usr/lib/extension-release.d/extension-release.hello');
    expect(extensionReleasePath('site', 'confext')).toBe('etc/extension-release.d/extension-release.site');
  });

  it('a configuration extension pins CONFEXT_LEVEL=, and says so', () => {
    expect(renderExtensionRelease({ kind: 'confext', osId: 'debian', level: '2', arch: 'x86-64' })).toBe('ID=debian\nCONFEXT_LEVEL=2\nARCHITECTURE=x86-64\n');
    expect(() => checkReleaseFacts({ kind: 'confext', osId: 'debian', arch: 'x86-64' })).toThrow(/--confext-level or --os-version-id: systemd-confext refuses/);
  });

  it('renders ID, the level keys given, and ARCHITECTURE', () => {
    expect(renderExtensionRelease({ osId: '_any', arch: 'x86-64' })).toBe('ID=_any\nARCHITECTURE=x86-64\n');
    expect(renderExtensionRelease({ osId: 'debian', versionId: '12', arch: 'x86-64' })).toBe('ID=debian\nVERSION_ID=12\nARCHITECTURE=x86-64\n');
    expect(renderExtensionRelease({ osId: 'flatcar', level: '1.0', arch: 'x86-64' })).toBe('ID=flatcar\nSYSEXT_LEVEL=1.0\nARCHITECTURE=x86-64\n');
  });

  it('needs a level for a named OS, and well-formed values', () => {
    expect(() => checkReleaseFacts({ osId: 'debian', arch: 'x86-64' })).toThrow(/--sysext-level or --os-version-id/);
    expect(() => checkReleaseFacts({ osId: 'Debian', versionId: '12', arch: 'x86-64' })).toThrow(UsageError);
    expect(() => checkReleaseFacts({ osId: '_any', level: 'a b', arch: 'x86-64' })).toThrow(UsageError);
    expect(checkReleaseFacts({ osId: '_any', arch: 'x86-64' }).osId).toBe('_any');
  });

  it('parses os-release quoting', () => {
    const m = parseOsRelease('# c\nID="debian"\nVERSION_ID=\'12\'\nNAME="a \\"b\\""\nBROKEN\n');
    expect(Object.fromEntries(m)).toEqual({ ID: 'debian', VERSION_ID: '12', NAME: 'a "b"' });
  });

  it('names each key where the tree and the flags disagree, with both values', () => {
    const f = { osId: 'debian', versionId: '12', arch: 'x86-64' as const };
    expect(releaseDisagreements('ID=fedora\nVERSION_ID="12"\n', f)).toEqual([{ key: 'ID', inTree: 'fedora', fromFlags: 'debian' }]);
    expect(releaseDisagreements('ID=debian\nSYSEXT_LEVEL=3\n', f)).toEqual([]);
  });

  it('keeps an agreeing tree file and appends the keys it lacks', () => {
    const f = { osId: 'debian', versionId: '12', arch: 'x86-64' as const };
    expect(mergeExtensionRelease('# mine\nID=debian\nEXTRA=1', f)).toBe('# mine\nID=debian\nEXTRA=1\nVERSION_ID=12\nARCHITECTURE=x86-64\n');
  });
});
