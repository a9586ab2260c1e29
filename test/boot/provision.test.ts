/**
 * First-boot provisioning of the example OS (os/debian), judged by the booted systemd 254 and Debian's
 * Ignition 2.14 themselves: "same file, same machine". One image, three fresh copies of it (nodes A, B,
 * C), one Ignition config handed over by `imgbuild qemu --ignition` (fw_cfg opt/com.coreos/config):
 *
 *   1. A's first boot: Ignition runs in the initrd (the signal on ROOT, docs/boot.md § 12) and writes
 *      a hostname, a file, a user with an SSH key, three configuration extensions made by
 *      `imgbuild confext build`, and an enabled unit of ours (provision-marker.service) that prints a
 *      PROVISION-MARKER line: a digest of the provisioned files, units and user, and what it sees.
 *      The same boot takes systemd credentials from `--credential` (SMBIOS type 11): an SSH key that
 *      must end up in root's authorized_keys, a tmpfiles.extra line, and firstboot.locale, which
 *      systemd-firstboot writes to /etc/locale.conf. imgbuild-confext-check
 *      refuses the confext with a changed byte (dm-verity); systemd-confext waits for the second boot
 *      (a merged /etc is read-only in 254, docs/boot.md § 12).
 *   2. A's second boot, the config still offered: Ignition does not run again; same digest;
 *      systemd-confext merges the good confext (its file shows under /etc) and skips the one whose
 *      ID= is another OS's.
 *   3. B's first boot with the same config: the same digest and hostname as A.
 *   4. C's first boot with a broken config (a file whose contents fail their verification hash): one
 *      IMGBUILD-BOOT-FAIL line from the initrd, no marker, the slot's bits untouched, the real root never
 *      reached.
 *
 * A boot takes 60-130 s here (TCG, 2 CPUs, a busy machine); the failing one less.
 */
import { closeSync, mkdirSync, openSync, readFileSync, readSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { imgbuild, tempDir, tool } from '../helpers.js';
import { boot, durations, env, slotStatus } from './boot.js';
import { exampleOs, OS_QEMU, type OsBuild } from './os.js';

const dir = tempDir('imgbuild-provision-boot-');
const BOOT_S = 480; // first boots with Ignition took 250-300 s on a 2-core machine with a load of 16; 90-150 s when quieter
const CORE_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGNvcmUta2V5LWZvci1pbWdidWlsZC1wcm92aXNpb24tdGVzdA core@fleet';
const ROOT_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHJvb3Qta2V5LXBhc3NlZC1hcy1hLWNyZWRlbnRpYWwtLS0t root-credential-key';
const HOSTNAME = 'node-from-ignition';
let os: OsBuild;
const node: Record<'A' | 'B' | 'C', string> = { A: '', B: '', C: '' };
let goodIgn: string;
let brokenIgn: string;

interface Ext {
  output: string;
  roothashFile: string;
  rootHash: string;
  partitions: Array<{ role: string; offset: number; bytes: number }>;
}

async function confext(name: string, osId: string, says: string): Promise<Ext> {
  const t = join(dir, `tree-${name}`);
  mkdirSync(join(t, `etc/${name}`), { recursive: true });
  writeFileSync(join(t, `etc/${name}/motd`), `${says}\n`);
  const r = await imgbuild(['confext', 'build', '--from-dir', t, '--name', name, '--version', '1', '--os-id', osId, '--os-version-id', '1', '-o', join(dir, `${name}.raw`), '--json'], { env });
  expect(r.exitCode, String(r.stderr)).toBe(0);
  return JSON.parse(String(r.stdout)) as Ext;
}

/** One byte past the squashfs's end inside the root partition: only dm-verity can notice it. */
function flipUnreadByte(x: Ext): void {
  const data = x.partitions.find((p) => p.role === 'root')!;
  const fd = openSync(x.output, 'r+');
  try {
    const sb = Buffer.alloc(96);
    readSync(fd, sb, 0, 96, data.offset);
    expect(sb.subarray(0, 4).toString('latin1')).toBe('hsqs');
    expect(Number(sb.readBigUInt64LE(40))).toBeLessThan(data.bytes - 1);
    const off = data.offset + data.bytes - 1;
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, off);
    writeSync(fd, Buffer.from([b[0] ^ 0xff]), 0, 1, off);
  } finally {
    closeSync(fd);
  }
}

const dataUrl = (b: Buffer | string) => `data:;base64,${gzipSync(Buffer.from(b)).toString('base64')}`;
const file = (path: string, contents: Buffer | string, mode = 0o644) => ({ path, mode, overwrite: true, contents: { source: dataUrl(contents), compression: 'gzip' } });

/** The unit's script: the provisioned state as one line (run with sh: a merged /etc is noexec in 254). */
const MARKER_SH = `#!/bin/sh
set -u
state=$( {
  for f in /etc/hostname /etc/provision/hello.txt /etc/provision/marker.sh /etc/systemd/system/provision-marker.service \\
    /etc/systemd/system/systemd-confext.service.d/10-debug.conf /var/lib/confexts/site.raw /var/lib/confexts/site.roothash; do
    echo "== $f $(sha256sum <"$f" 2>&1)"
  done
  echo "== enabled $(systemctl is-enabled provision-marker.service 2>&1)"
  echo "== user $(getent passwd core)"
  echo "== keys"; cat /home/core/.ssh/authorized_keys.d/ignition /home/core/.ssh/authorized_keys 2>/dev/null
} )
digest=$(printf '%s\\n' "$state" | sha256sum | cut -c1-64)
corekey=$(cat /home/core/.ssh/authorized_keys.d/* /home/core/.ssh/authorized_keys 2>/dev/null | grep -c 'core@fleet')
rootkey=$(grep -c 'root-credential-key' /root/.ssh/authorized_keys 2>/dev/null)
cred=$(cat /var/lib/provision-credential 2>/dev/null || echo none)
locale=$(sed -n 's/^LANG=//p' /etc/locale.conf 2>/dev/null)
confext=$(ls /etc/extension-release.d 2>/dev/null | sed -n 's/^extension-release\\.//p' | paste -sd, -)
site=$(tr ' ' _ </etc/site/motd 2>/dev/null || echo none)
refused=$(ls /var/lib/confexts.refused 2>/dev/null | sed -n 's/\\.raw$//p' | paste -sd, -)
echo "PROVISION-MARKER digest=$digest hostname=$(hostname) user=$(id -u core 2>/dev/null || echo none) core-key=\${corekey:-0} root-key=\${rootkey:-0} credential=$cred locale=\${locale:-none} confext=\${confext:-none} site=$site refused=\${refused:-none} signal=$(test -e /var/lib/imgbuild/ignition-firstboot && echo set || echo cleared)"
`;

const MARKER_UNIT = `[Unit]
Description=provisioning marker (imgbuild boot test)
After=systemd-confext.service local-fs.target
Before=imgbuild-marker.service

[Service]
Type=oneshot
ExecStart=/bin/sh /etc/provision/marker.sh
StandardOutput=journal+console

[Install]
WantedBy=multi-user.target
`;

function ignitionConfig(exts: Ext[]): object {
  const files = [
    file('/etc/hostname', `${HOSTNAME}\n`),
    file('/etc/provision/hello.txt', 'same file, same machine\n'),
    file('/etc/provision/marker.sh', MARKER_SH, 0o755),
  ];
  for (const x of exts) {
    const name = x.output.split('/').pop()!.replace(/\.raw$/, '');
    files.push(file(`/var/lib/confexts/${name}.raw`, readFileSync(x.output)), file(`/var/lib/confexts/${name}.roothash`, readFileSync(x.roothashFile)));
  }
  return {
    ignition: { version: '3.3.0' },
    storage: { files },
    passwd: { users: [{ name: 'core', sshAuthorizedKeys: [CORE_KEY] }] },
    systemd: {
      units: [
        { name: 'provision-marker.service', enabled: true, contents: MARKER_UNIT },
        // systemd-confext says why it skips an extension only at debug level
        { name: 'systemd-confext.service', dropins: [{ name: '10-debug.conf', contents: '[Service]\nEnvironment=SYSTEMD_LOG_LEVEL=debug SYSTEMD_LOG_TARGET=console\nStandardOutput=journal+console\nStandardError=journal+console\n' }] },
      ],
    },
  };
}

/** The PROVISION-MARKER line's fields. */
function provisioned(log: string): Record<string, string> {
  const m = [...log.matchAll(/PROVISION-MARKER ([^\r\n]*)/g)].at(-1);
  if (!m) return {};
  return Object.fromEntries(m[1].trim().split(/\s+/).map((w) => [w.slice(0, w.indexOf('=')), w.slice(w.indexOf('=') + 1)]));
}

const said = (log: string) => (log.match(/(imgbuild-(ignition|confext-check)|PROVISION-MARKER|IMGBUILD-BOOT)[^\r\n]*/g) ?? []).join('\n');

beforeAll(async () => {
  os = await exampleOs('1');
  const site = await confext('site', 'debian', 'hello from a confext');
  const wrongid = await confext('wrongid', 'fedora', 'for another OS');
  const tampered = await confext('tampered', 'debian', 'changed after signing');
  flipUnreadByte(tampered);
  goodIgn = join(dir, 'node.ign');
  writeFileSync(goodIgn, JSON.stringify(ignitionConfig([site, wrongid, tampered])));
  brokenIgn = join(dir, 'broken.ign');
  const broken = ignitionConfig([]) as { storage: { files: Array<Record<string, unknown>> } };
  broken.storage.files.push({ path: '/etc/provision/checked.txt', mode: 0o644, contents: { source: 'data:,not%20what%20was%20promised', verification: { hash: `sha512-${'0'.repeat(128)}` } } });
  writeFileSync(brokenIgn, JSON.stringify(broken));

  const base = join(dir, 'base.raw');
  const r = await imgbuild(['build', '--from', os.usr, '--root-tree', os.root, '--kernel', os.kernel, '--initrd', os.initrd, '--layout', 'flatcar', '--seed', 'provision', '--cmdline', 'imgbuild.test=poweroff', '-o', base], { env });
  expect(r.exitCode, String(r.stderr)).toBe(0);
  for (const n of ['A', 'B', 'C'] as const) {
    node[n] = join(dir, `node-${n}.raw`);
    await tool('cp', ['--sparse=always', base, node[n]]);
    await tool('cp', [`${base}.manifest.json`, `${node[n]}.manifest.json`]);
  }
}, 1_800_000);

afterAll(() => {
  if (durations.length) console.log(`provision boot durations (s): ${durations.map((d) => (d / 1000).toFixed(1)).join(' ')}`);
});

describe('first-boot provisioning on the booted example OS (Ignition 2.14, systemd 254)', { timeout: (BOOT_S + 90) * 1000 }, () => {
  let digestA = '';

  it('1. node A, first boot: Ignition provisions /etc and /var, credentials land, the tampered confext is refused', async () => {
    const creds = ['--credential', `ssh.authorized_keys.root=${ROOT_KEY}`, '--credential', 'tmpfiles.extra=f /var/lib/provision-credential 0644 root root - from-a-credential', '--credential', 'firstboot.locale=C.UTF-8'];
    const { json, exitCode, log } = await boot(node.A, 'a1', { timeoutS: BOOT_S, extraArgs: [...OS_QEMU, '--ignition', goodIgn, ...creds] });
    expect(exitCode, `${json.failure?.detail}\n${said(log)}`).toBe(0);
    expect(log).toContain('imgbuild-ignition: first boot: running Ignition (platform=qemu)');
    expect(log).toMatch(/imgbuild-ignition: provisioned \(platform=qemu config-sha256=[0-9a-f]{64}\); the signal is cleared/);
    const p = provisioned(log);
    expect(p, said(log)).toMatchObject({ hostname: HOSTNAME, user: '1000', 'core-key': '1', 'root-key': '1', credential: 'from-a-credential', locale: 'C.UTF-8', confext: 'none', site: 'none', refused: 'tampered', signal: 'cleared' });
    expect(p.digest).toMatch(/^[0-9a-f]{64}$/);
    digestA = p.digest;
    // the changed byte, caught by dm-verity before systemd-confext could see it
    expect(log).toMatch(/imgbuild-confext-check: tampered: refused, moved to \/var\/lib\/confexts\.refused: dm-verity refused a block/);
    expect(log).toContain('imgbuild-confext-check: site: verified');
    expect(json).toMatchObject({ slot: 'A', health: 'ok', failure: null });
  });

  it('2. node A, second boot with the config still offered: no Ignition, the same state, the good confext merged', async () => {
    const { json, exitCode, log } = await boot(node.A, 'a2', { timeoutS: BOOT_S, extraArgs: [...OS_QEMU, '--ignition', goodIgn] });
    expect(exitCode, `${json.failure?.detail}\n${said(log)}`).toBe(0);
    expect(log).not.toContain('imgbuild-ignition:');
    expect(log).not.toMatch(/Ignition \(files\)|ignition\[\d+\]/);
    expect(provisioned(log), said(log)).toMatchObject({ digest: digestA, hostname: HOSTNAME, 'root-key': '1', signal: 'cleared', confext: 'site', site: 'hello_from_a_confext', refused: 'tampered' });
    expect(json.details).toMatchObject({ boots: '2' });
    // systemd-confext merged the good one and gave its own reason for the other OS's
    expect(log).toMatch(/Extension 'wrongid' is for OS 'fedora', but deployed on top of 'debian'/);
    expect(log).toMatch(/Using extensions 'site'/);
  });

  it('3. node B, first boot from the same image and config: the same provisioned state as A', async () => {
    const { json, exitCode, log } = await boot(node.B, 'b1', { timeoutS: BOOT_S, extraArgs: [...OS_QEMU, '--ignition', goodIgn] });
    expect(exitCode, `${json.failure?.detail}\n${said(log)}`).toBe(0);
    expect(log).toMatch(/imgbuild-ignition: provisioned/);
    const p = provisioned(log);
    expect(p, said(log)).toMatchObject({ digest: digestA, hostname: HOSTNAME, user: '1000', 'core-key': '1', confext: 'none', refused: 'tampered', signal: 'cleared' });
    // no credentials on B: root got no key, tmpfiles.extra wrote nothing
    expect(p).toMatchObject({ 'root-key': '0', credential: 'none', locale: 'none' });
  });

  it('4. node C, a config that cannot be applied: the first boot stops in the initrd with one line, nothing blessed', async () => {
    const before = await slotStatus(node.C);
    const { json, exitCode, log } = await boot(node.C, 'c1', { timeoutS: BOOT_S, extraArgs: [...OS_QEMU, '--ignition', brokenIgn] });
    expect(exitCode).toBe(1);
    expect(json.slot).toBeNull();
    expect(json.failure?.reason, said(log)).toBe('ignition');
    expect(json.failure?.detail).toMatch(/^files: .*checked\.txt/);
    expect(log.match(/IMGBUILD-BOOT-FAIL reason=ignition/g)).toHaveLength(1);
    // the real root never ran: no marker unit, no blessing
    expect(log).not.toMatch(/IMGBUILD-BOOT slot=|PROVISION-MARKER|imgbuild-bless/);
    const after = await slotStatus(node.C);
    expect(after.A).toMatchObject({ successful: before.A.successful, priority: before.A.priority });
    expect(after.B).toMatchObject({ successful: before.B.successful, priority: before.B.priority, tries: before.B.tries });
  });
});
