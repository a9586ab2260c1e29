import { describe, expect, it } from 'vitest';
import { formatCmdline, isOwnedKey, parseCmdline, userCmdlineArgs, type SlotCmdline } from './cmdline.js';

const B: SlotCmdline = {
  slot: 'B',
  partuuid: 'e03dd35c-7c2d-4a47-b3fe-27f15780a57c',
  rootHash: 'b'.repeat(64),
  hashOffset: 130023424,
  fsType: 'squashfs',
  extra: ['console=ttyS0,115200n8', 'quiet', 'foo=bar=baz'],
};

describe('slot command line', () => {
  it('names only its own slot, in both systemd and Flatcar terms', () => {
    const line = formatCmdline(B);
    const dev = `PARTUUID=${B.partuuid}`;
    for (const want of [
      'mount.usr=/dev/mapper/usr',
      'mount.usrfstype=squashfs',
      'mount.usrflags=ro',
      `usrhash=${B.rootHash}`,
      `systemd.verity_usr_data=${dev}`,
      `systemd.verity_usr_hash=${dev}`,
      'systemd.verity_usr_options=hash-offset=130023424,restart-on-corruption',
      `verity.usr=${dev}`,
      `verity.usrhash=${B.rootHash}`,
      'verity.usrhashoffset=130023424',
      'imgbuild.slot=B',
    ]) {
      expect(line.split(' ')).toContain(want);
    }
    expect(line).not.toMatch(/verity\.usr(hash)?\.[AB]=/);
    expect(line.endsWith('quiet foo=bar=baz')).toBe(true);
  });

  it('parses what it formats, keeping the extra arguments in order', () => {
    expect(parseCmdline(formatCmdline(B))).toEqual(B);
  });

  it('refuses a hash that is not lowercase hex and an offset that is not positive', () => {
    expect(() => formatCmdline({ ...B, rootHash: 'XYZ' })).toThrow(/hex/);
    expect(() => formatCmdline({ ...B, hashOffset: 0 })).toThrow(/hash offset/);
  });

  it("refuses a user's --cmdline that sets keys imgbuild owns, naming them", () => {
    expect(userCmdlineArgs(' quiet  loglevel=3 ')).toEqual(['quiet', 'loglevel=3']);
    expect(userCmdlineArgs(undefined)).toEqual([]);
    for (const key of ['usrhash', 'mount.usr', 'mount.usrfstype', 'mount.usrflags', 'verity.usrhash', 'verity.usr', 'verity.usrhashoffset', 'systemd.verity_usr_data', 'systemd.verity_usr_options', 'imgbuild.slot', 'roothash', 'systemd.verity']) {
      expect(isOwnedKey(`${key}=x`), key).toBe(true);
      expect(() => userCmdlineArgs(`quiet ${key}=x`), key).toThrow(new RegExp(`--cmdline may not set ${key.replace(/\./g, '\\.')}:`));
    }
    expect(() => userCmdlineArgs('usrhash=1 mount.usr=/x usrhash=2')).toThrow(/may not set usrhash, mount\.usr:/);
    for (const fine of ['console=tty0', 'rd.systemd.unit=emergency.target', 'rd.break', 'systemd.unit=rescue.target', 'usr=1', 'mount.usrx=1', 'rd.verity=0']) expect(isOwnedKey(fine), fine).toBe(false);
  });

  it('refuses the rd. form of every key it refuses (the initrd reads rd.KEY as KEY)', () => {
    for (const key of ['systemd.verity', 'usrhash', 'mount.usr', 'mount.usrflags', 'verity.usrhash', 'systemd.verity_usr_options', 'imgbuild.slot', 'roothash']) {
      expect(isOwnedKey(`rd.${key}=0`), key).toBe(true);
      expect(() => userCmdlineArgs(`quiet rd.${key}=0`), key).toThrow(new RegExp(`--cmdline may not set rd\\.${key.replace(/\./g, '\\.')}:`));
    }
    expect(() => userCmdlineArgs('rd.root=/dev/sda1', '--cmdline', { rootOwned: true })).toThrow(/may not set rd\.root:/);
    expect(userCmdlineArgs('rd.imgbuild.test=1 imgbuild.test=1')).toEqual(['rd.imgbuild.test=1', 'imgbuild.test=1']);
  });
});
