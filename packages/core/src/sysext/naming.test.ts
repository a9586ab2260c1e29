import { describe, expect, it } from 'vitest';
import { UsageError } from '../errors.js';
import { archPartitions, checkSysextName, checkSysextVersion, sysextFileName, sysextMatchPattern } from './naming.js';

describe('sysext naming', () => {
  it('names the image NAME-VERSION-ARCH.raw and matches it with @v in the version', () => {
    expect(sysextFileName('kubernetes', 'v1.31.0', 'x86-64')).toBe('kubernetes-v1.31.0-x86-64.raw');
    expect(sysextMatchPattern('kubernetes', 'x86-64')).toBe('kubernetes-@v-x86-64.raw');
  });

  it('uses the UAPI x86-64 usr and usr-verity types and systemd-repart default labels', () => {
    expect(archPartitions('x86-64')).toEqual({
      usrType: '8484680c-9521-48c6-9c11-b0720656f69e',
      verityType: '77ff5f63-e7b6-4633-acf4-1565b864c0e6',
      usrLabel: 'usr-x86-64',
      verityLabel: 'usr-x86-64-verity',
    });
  });

  it('refuses names and versions that break file names or sysupdate patterns', () => {
    for (const v of ['1.0', 'v1.31.0', '2024.1~rc1', '1.2-3+deb12']) expect(checkSysextVersion(v)).toBe(v);
    for (const v of ['', '1 0', '../1', '1/2', 'v@1', '%v', '-1']) expect(() => checkSysextVersion(v)).toThrow(UsageError);
    for (const n of ['hello', 'docker-compose', 'a.b_c+d']) expect(checkSysextName(n)).toBe(n);
    for (const n of ['', 'a b', 'a/b', '.hidden', 'x@y', 'x%a']) expect(() => checkSysextName(n)).toThrow(UsageError);
  });
});
