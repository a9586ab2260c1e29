import { describe, expect, it } from 'vitest';
import { formatCmdline, parseCmdline, userCmdlineArgs } from './cmdline.js';

const A = { slot: 'A' as const, partuuid: '7130c94a-213a-4e5a-8e26-6cce9662f132', rootHash: 'a'.repeat(64), hashOffset: 1065345024, fsType: 'squashfs' };
const ROOT = '3884dd41-8582-4404-b9a8-e9b84f2df50e';

describe('the ROOT imgbuild formatted (build --root-tree)', () => {
  it('puts root=PARTUUID= rootfstype=ext4 rw right after imgbuild.slot=, before the user words', () => {
    const line = formatCmdline({ ...A, rootPartuuid: ROOT, extra: ['console=ttyS0', 'quiet'] });
    expect(line).toContain(`imgbuild.slot=A root=PARTUUID=${ROOT} rootfstype=ext4 rw console=ttyS0 quiet`);
  });

  it('reads it back, so update gives the new slot the same root', () => {
    const line = formatCmdline({ ...A, rootPartuuid: ROOT, extra: ['console=ttyS0', 'imgbuild.test=poweroff'] });
    const p = parseCmdline(line);
    expect(p.rootPartuuid).toBe(ROOT);
    expect(p.extra).toEqual(['console=ttyS0', 'imgbuild.test=poweroff']);
    expect(formatCmdline({ ...A, ...p, extra: p.extra } as Parameters<typeof formatCmdline>[0])).toBe(line);
  });

  it('leaves a root= of the user (no root tree) among the extra words', () => {
    const p = parseCmdline(formatCmdline({ ...A, extra: ['root=/dev/vda9', 'ro'] }));
    expect(p.rootPartuuid).toBeUndefined();
    expect(p.extra).toEqual(['root=/dev/vda9', 'ro']);
  });

  it('refuses root=, rootfstype=, rw and ro from --cmdline only when imgbuild formats ROOT', () => {
    expect(userCmdlineArgs('root=/dev/vda9 rw')).toEqual(['root=/dev/vda9', 'rw']);
    expect(() => userCmdlineArgs('quiet root=/dev/vda9 ro', '--cmdline', { rootOwned: true })).toThrow(/may not set root, ro/);
  });

  it('lets the user set imgbuild.test=, but no other imgbuild.* key', () => {
    expect(userCmdlineArgs('imgbuild.test=poweroff')).toEqual(['imgbuild.test=poweroff']);
    expect(() => userCmdlineArgs('imgbuild.slot=B')).toThrow(/imgbuild\.slot/);
    expect(() => userCmdlineArgs('imgbuild.testx=1')).toThrow(/imgbuild\.testx/);
  });
});
