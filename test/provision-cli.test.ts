/**
 * `imgbuild qemu --ignition/--credential` and the qemu_uefi launch script's -i/-c, without booting:
 * usage errors, the config checked before qemu starts, and qemu itself accepting the arguments (it
 * parses -smbios and -fw_cfg at start-up and exits at once on a bad one).
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { credentialArgs, ignitionArgs, parseCredentials } from '../packages/core/src/qemu/provision.js';
import { launchScript } from '../packages/core/src/qemu/bundle-write.js';
import { imgbuild, tempDir } from './helpers.js';

const dir = tempDir('imgbuild-provision-cli-');
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIO7provisiontestkey000000000000000000000000 test@imgbuild';

/** Starts qemu paused (-S) with `args`: 'running' when it is still up after `waitMs`, else its complaint. */
function qemuAccepts(args: string[], waitMs = 3000): Promise<string> {
  return new Promise((resolve) => {
    const q = spawn('qemu-system-x86_64', ['-machine', 'q35,accel=tcg', '-nodefaults', '-display', 'none', '-monitor', 'none', '-S', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    q.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => {
      q.kill('SIGKILL');
      resolve('running');
    }, waitMs);
    q.on('close', () => {
      clearTimeout(timer);
      resolve(err.trim() || 'exited');
    });
  });
}

describe('imgbuild qemu --credential / --ignition: refused before any boot', () => {
  it('a malformed --credential is a usage error (exit 2)', async () => {
    const r = await imgbuild(['qemu', join(dir, 'x.img'), '--credential', 'no-value']);
    expect(r.exitCode).toBe(2);
    expect(String(r.stderr)).toMatch(/--credential takes NAME=VALUE, got "no-value"/);
    const twice = await imgbuild(['qemu', join(dir, 'x.img'), '--credential', 'a=1', '--credential', 'a=2']);
    expect(twice.exitCode).toBe(2);
    expect(String(twice.stderr)).toMatch(/credential "a" given twice/);
  });

  it('an unusable Ignition config: one line naming the file, exit 1, no qemu started', async () => {
    const img = join(dir, 'blank.img');
    expect((await imgbuild(['gpt', 'create', '--layout', 'mini', '-o', img])).exitCode).toBe(0);
    const cases: [string, string, RegExp][] = [
      ['yaml.bu', 'variant: flatcar\nversion: 1.0.0\n', /yaml\.bu: not an Ignition config: not JSON/],
      ['usr.ign', JSON.stringify({ ignition: { version: '3.3.0' }, storage: { files: [{ path: '/usr/bin/evil' }] } }), /usr\.ign: storage\.files\[0\]\.path "\/usr\/bin\/evil" is outside/],
      ['new.ign', JSON.stringify({ ignition: { version: '3.5.0' } }), /new\.ign: ignition\.version "3\.5\.0"/],
    ];
    for (const [name, text, re] of cases) {
      writeFileSync(join(dir, name), text);
      const t = Date.now();
      const r = await imgbuild(['qemu', img, '--ignition', join(dir, name), '--timeout', '60']);
      expect(r.exitCode, name).toBe(1);
      expect(Date.now() - t).toBeLessThan(10_000);
      const lines = String(r.stderr).trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(re);
    }
    const missing = await imgbuild(['qemu', img, '--ignition', join(dir, 'nope.ign')]);
    expect(missing.exitCode).toBe(1);
    expect(String(missing.stderr)).toMatch(/nope\.ign: cannot read the Ignition config/);
  });
});

describe('qemu takes the arguments', () => {
  it('SMBIOS type 11 credentials and the fw_cfg config start qemu; a missing fw_cfg file does not', async () => {
    const ign = join(dir, 'a,b.ign'); // a comma in the path: doubled in the option
    writeFileSync(ign, JSON.stringify({ ignition: { version: '3.3.0' } }));
    const creds = parseCredentials([`ssh.authorized_keys.root=${KEY}`, 'tmpfiles.extra=f /etc/x 0644 - - - a,b c\n']);
    expect(await qemuAccepts([...credentialArgs(creds, 'smbios', () => ''), ...ignitionArgs(ign)])).toBe('running');
    const credFile = join(dir, 'cred,1');
    writeFileSync(credFile, KEY);
    expect(await qemuAccepts(credentialArgs(creds.slice(0, 1), 'fw_cfg', () => credFile))).toBe('running');
    // the control: qemu does refuse a bad fw_cfg (so 'running' above means accepted)
    expect(await qemuAccepts(ignitionArgs(join(dir, 'missing.ign')), 20_000)).toMatch(/fw_cfg|missing\.ign|No such file/i);
  }, 60_000);
});

describe('the qemu_uefi launch script: -i and -c', () => {
  /** Runs the script with a qemu that prints its arguments, one per line. */
  function launch(arch: 'x86-64' | 'arm64', args: string[]): string[] {
    const d = join(dir, `bundle-${arch}`);
    const bin = join(d, 'bin');
    mkdirSync(bin, { recursive: true });
    for (const q of ['qemu-system-x86_64', 'qemu-system-aarch64']) {
      writeFileSync(join(bin, q), '#!/bin/sh\nfor a in "$@"; do printf "%s\\n" "$a"; done\n');
      chmodSync(join(bin, q), 0o755);
    }
    writeFileSync(join(d, 'vm.sh'), launchScript('vm', false, arch), { mode: 0o755 });
    const r = spawnSync('sh', [join(d, 'vm.sh'), '--no-net', ...args], { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    return r.stdout.split('\n');
  }

  it('passes the config under Ignition\'s and Flatcar\'s fw_cfg names, and credentials as imgbuild qemu does', () => {
    const ign = join(dir, 'node.ign');
    writeFileSync(ign, '{}');
    const tmpfiles = 'f /var/lib/x 0644 - - - one,two';
    const argv = launch('x86-64', ['-i', ign, '-c', `ssh.authorized_keys.root=${KEY}`, '-c', `tmpfiles.extra=${tmpfiles}`]);
    expect(argv).toEqual(expect.arrayContaining(['-fw_cfg', `name=opt/com.coreos/config,file=${ign}`, `name=opt/org.flatcar-linux/config,file=${ign}`]));
    const smbios = argv.filter((_, i) => argv[i - 1] === '-smbios');
    expect(smbios.sort()).toEqual(credentialArgs(parseCredentials([`ssh.authorized_keys.root=${KEY}`, `tmpfiles.extra=${tmpfiles}`]), 'smbios', () => '').filter((a) => a !== '-smbios').sort());
  });

  it('on arm64: fw_cfg credentials from files beside the script', () => {
    const argv = launch('arm64', ['-c', 'firstboot.timezone=Europe/Berlin']);
    const spec = argv[argv.indexOf('-fw_cfg') + 1];
    expect(spec).toMatch(/^name=opt\/io\.systemd\.credentials\/firstboot\.timezone,file=.*\/credentials\/firstboot\.timezone$/);
    expect(readFileSync(spec.split('file=')[1], 'utf8')).toBe('Europe/Berlin');
  });

  it('refuses a malformed -c and an unreadable -i (exit 2)', () => {
    const d = join(dir, 'bundle-x86-64');
    const r = spawnSync('sh', [join(d, 'vm.sh'), '-c', 'novalue'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/-c takes NAME=VALUE/);
    const r2 = spawnSync('sh', [join(d, 'vm.sh'), '-i', join(dir, 'none.ign')], { encoding: 'utf8' });
    expect(r2.status).toBe(2);
    expect(r2.stderr).toMatch(/cannot read the file/);
  });
});
