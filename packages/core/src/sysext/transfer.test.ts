import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import { sysextFileName, sysextMatchPattern } from './naming.js';
import { renderSha256Sums, renderTransfer, transferSource } from './transfer.js';

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

  it('writes SHA256SUMS as sha256sum does, sorted by name', () => {
    expect(renderSha256Sums([{ name: 'b.raw', sha256: 'bb' }, { name: 'a.raw', sha256: 'aa' }])).toBe('aa  a.raw\nbb  b.raw\n');
  });
});
