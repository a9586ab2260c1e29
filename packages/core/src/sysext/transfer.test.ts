import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import { sysextFileName, sysextMatchPattern } from './naming.js';
import { renderRoothashTransfer, renderSha256Sums, renderTransfer, roothashFileName, transferFileName, transferSource } from './transfer.js';

describe('sysupdate transfer file', () => {
  it('is url-file for a URL and regular-file for a folder', () => {
    expect(transferSource('https://example.org/ext/')).toEqual({ type: 'url-file', path: 'https://example.org/ext/' });
    expect(transferSource('/srv/release')).toEqual({ type: 'regular-file', path: '/srv/release' });
    for (const bad of ['release', 'ftp://x/', '/a b', '/a%b']) expect(() => transferSource(bad)).toThrow(UsageError);
  });

  it('matches the image name on both sides and points the current symlink where sysext merges it', () => {
    const text = renderTransfer({ name: 'hello', arch: 'x86-64', source: { type: 'url-file', path: 'https://example.org/hello/' } });
    const lines = text.split('\n').filter((l) => l && !l.startsWith('#'));
    expect(lines).toEqual([
      '[Transfer]',
      'Verify=false',
      '[Source]',
      'Type=url-file',
      'Path=https://example.org/hello/',
      'MatchPattern=hello-@v-x86-64.raw',
      '[Target]',
      'Type=regular-file',
      'Path=/var/lib/extensions.d',
      'MatchPattern=hello-@v-x86-64.raw',
      'CurrentSymlink=/var/lib/extensions/hello.raw',
      'InstancesMax=2',
    ]);
    // One source of truth: the pattern with a concrete version is the image's file name.
    expect(sysextMatchPattern('hello', 'x86-64').replace('@v', '1.2')).toBe(sysextFileName('hello', '1.2', 'x86-64'));
  });

  it('names transfers *.conf (all systemd-sysupdate 254 reads) and carries the root hash file along with its own', () => {
    expect(transferFileName('hello')).toBe('hello.conf');
    expect(roothashFileName('hello-1.2-x86-64.raw')).toBe('hello-1.2-x86-64.roothash');
    const text = renderRoothashTransfer({ name: 'hello', arch: 'x86-64', source: { type: 'regular-file', path: '/srv/hello' } });
    const lines = text.split('\n').filter((l) => l && !l.startsWith('#'));
    expect(lines).toContain('MatchPattern=hello-@v-x86-64.roothash');
    expect(lines).toContain('CurrentSymlink=/var/lib/extensions/hello.roothash');
    // both transfers keep the same versions, so sysupdate installs image and hash together
    expect(lines.filter((l) => l.startsWith('InstancesMax='))).toEqual(['InstancesMax=2']);
  });

  it('writes SHA256SUMS as sha256sum does, sorted by name', () => {
    expect(renderSha256Sums([{ name: 'b.raw', sha256: 'bb' }, { name: 'a.raw', sha256: 'aa' }])).toBe('aa  a.raw\nbb  b.raw\n');
  });
});
