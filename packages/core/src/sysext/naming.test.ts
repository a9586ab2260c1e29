import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import { archPartitions, checkSysextName, checkSysextVersion, sysextFileName, sysextMatchPattern } from './naming.js';

describe('sysext naming', () => {
  it('names the image NAME-VERSION-ARCH.raw and matches it with @v in the version', () => {
    expect(sysextFileName('kubernetes', 'v1.31.0', 'x86-64')).toBe('kubernetes-v1.31.0-x86-64.raw');
    expect(sysextMatchPattern('kubernetes', 'x86-64')).toBe('kubernetes-@v-x86-64.raw');
  });

  it('uses the UAPI x86-64 root and root-verity types (as systemd\'s sysext.repart.d) and systemd-repart default labels', () => {
    expect(archPartitions('x86-64')).toEqual({
      dataType: '4f68bce3-e8cd-4db1-96e7-fbcaf984b709',
      verityType: '2c7357ed-ebd2-46d9-aec1-23d437ec2bf5',
      dataLabel: 'root-x86-64',
      verityLabel: 'root-x86-64-verity',
    });
  });

  it('refuses names and versions that break file names or sysupdate patterns', () => {
    for (const v of ['1.0', 'v1.31.0', '2024.1~rc1', '1.2-3+deb12']) expect(checkSysextVersion(v)).toBe(v);
    for (const v of ['', '1 0', '../1', '1/2', 'v@1', '%v', '-1']) expect(() => checkSysextVersion(v)).toThrow(UsageError);
    for (const n of ['hello', 'docker-compose', 'a.b_c+d']) expect(checkSysextName(n)).toBe(n);
    for (const n of ['', 'a b', 'a/b', '.hidden', 'x@y', 'x%a']) expect(() => checkSysextName(n)).toThrow(UsageError);
  });
});
