import { describe, expect, it } from 'vitest';
import { InputError, UsageError } from '../errors.js';
import { checkIgnitionConfig, credentialArgs, credentialTransport, ignitionArgs, parseCredential, parseCredentials, qemuOptionValue } from './provision.js';

const cfg = (o: object) => JSON.stringify({ ignition: { version: '3.3.0' }, ...o });

describe('parseCredential', () => {
  it('splits at the first =, keeps the rest of the value as it is', () => {
    expect(parseCredential('ssh.authorized_keys.root=ssh-ed25519 AAAA= me@host')).toEqual({ name: 'ssh.authorized_keys.root', value: Buffer.from('ssh-ed25519 AAAA= me@host') });
    expect(parseCredential('firstboot.timezone=')).toEqual({ name: 'firstboot.timezone', value: Buffer.alloc(0) });
    expect(parseCredential('tmpfiles.extra=f /etc/x 0644 - - - a,b').value.toString()).toBe('f /etc/x 0644 - - - a,b');
  });

  it('refuses a spec without a name, or a name systemd or fw_cfg cannot carry (usage errors)', () => {
    for (const bad of ['novalue', '=x', 'a/b=x', '.hidden=x', '-x=1', 'sp ace=x', `${'n'.repeat(29)}=x`]) {
      expect(() => parseCredential(bad), bad).toThrow(UsageError);
    }
    expect(() => parseCredential('a/b=x')).toThrow(/--credential: credential name "a\/b" must be/);
    expect(parseCredential(`${'n'.repeat(28)}=x`).name).toHaveLength(28); // opt/io.systemd.credentials/ + 28 = 55 bytes
  });

  it('refuses the same name twice', () => {
    expect(() => parseCredentials(['a=1', 'b=2', 'a=3'])).toThrow(/credential "a" given twice/);
    expect(parseCredentials(['a=1', 'b=2']).map((c) => c.name)).toEqual(['a', 'b']);
  });
});

describe('qemu arguments', () => {
  it('SMBIOS type 11 on x86-64, fw_cfg elsewhere', () => {
    expect(credentialTransport('x86-64')).toBe('smbios');
    expect(credentialTransport('arm64')).toBe('fw_cfg');
  });

  it('SMBIOS carries the value in systemd\'s binary form (base64: no commas, newlines survive)', () => {
    const creds = parseCredentials(['ssh.authorized_keys.root=ssh-ed25519 AAAA k,ey\n', 'firstboot.locale=C.UTF-8']);
    const args = credentialArgs(creds, 'smbios', () => 'unused');
    expect(args).toEqual([
      '-smbios', `type=11,value=io.systemd.credential.binary:ssh.authorized_keys.root=${Buffer.from('ssh-ed25519 AAAA k,ey\n').toString('base64')}`,
      '-smbios', `type=11,value=io.systemd.credential.binary:firstboot.locale=${Buffer.from('C.UTF-8').toString('base64')}`,
    ]);
    const b64 = args[1].split('=').slice(3).join('=');
    expect(Buffer.from(b64, 'base64').toString()).toBe('ssh-ed25519 AAAA k,ey\n');
  });

  it('fw_cfg names opt/io.systemd.credentials/NAME and the file holding the value, commas doubled', () => {
    expect(credentialArgs([parseCredential('a.b=1')], 'fw_cfg', (n) => `/tmp/w,1/${n}`)).toEqual(['-fw_cfg', 'name=opt/io.systemd.credentials/a.b,file=/tmp/w,,1/a.b']);
  });

  it('the Ignition config goes to fw_cfg opt/com.coreos/config', () => {
    expect(ignitionArgs('/x/node,1.ign')).toEqual(['-fw_cfg', 'name=opt/com.coreos/config,file=/x/node,,1.ign']);
    expect(qemuOptionValue('a,,b')).toBe('a,,,,b');
  });
});

describe('checkIgnitionConfig', () => {
  it('accepts a 3.x config writing /etc, /var and /home, and counts what it provisions', () => {
    const s = checkIgnitionConfig(
      cfg({
        storage: { files: [{ path: '/etc/hostname', contents: { source: 'data:,node' } }, { path: '/var/lib/x' }], directories: [{ path: '/home/core/d' }], links: [{ path: '/etc/localtime', target: '/usr/share/zoneinfo/UTC' }] },
        passwd: { users: [{ name: 'core', sshAuthorizedKeys: ['ssh-ed25519 AAAA'] }] },
        systemd: { units: [{ name: 'x.service', enabled: true, contents: '[Service]\n' }] },
      }),
    );
    expect(s).toEqual({ version: '3.3.0', files: 2, directories: 1, links: 1, users: 1, units: 1 });
    expect(checkIgnitionConfig(JSON.stringify({ ignition: { version: '3.0.0' } })).version).toBe('3.0.0');
  });

  it('refuses what is not a config Ignition 2.14 reads, in one line each', () => {
    const cases: [string, RegExp][] = [
      ['{"ignition": ', /not JSON/],
      ['variant: flatcar\nversion: 1.0.0\n', /not JSON/],
      ['{"passwd":{}}', /no ignition\.version.*butane/],
      [JSON.stringify({ ignition: { version: '2.2.0' } }), /"2\.2\.0".*3\.0\.0 to 3\.3\.0/],
      [JSON.stringify({ ignition: { version: '3.4.0' } }), /"3\.4\.0"/],
      [JSON.stringify({ ignition: { version: 'latest' } }), /"latest"/],
    ];
    for (const [text, re] of cases) {
      expect(() => checkIgnitionConfig(text), text).toThrow(InputError);
      expect(() => checkIgnitionConfig(text), text).toThrow(re);
    }
  });

  it('refuses a storage layout and paths outside /etc, /var and /home', () => {
    expect(() => checkIgnitionConfig(cfg({ storage: { filesystems: [{ device: '/dev/vda9', format: 'ext4' }] } }))).toThrow(/storage\.filesystems: the image's partitions/);
    expect(() => checkIgnitionConfig(cfg({ storage: { disks: [{ device: '/dev/vda' }] } }))).toThrow(/storage\.disks/);
    expect(() => checkIgnitionConfig(cfg({ storage: { files: [{ path: '/usr/bin/x' }] } }))).toThrow(/storage\.files\[0\]\.path "\/usr\/bin\/x" is outside \/etc, \/var, \/home/);
    expect(() => checkIgnitionConfig(cfg({ storage: { links: [{ path: '/opt/x', target: '/etc/y' }] } }))).toThrow(/storage\.links\[0\]/);
    expect(() => checkIgnitionConfig(cfg({ storage: { files: [{ path: '/etc/../usr/x' }] } }))).toThrow(/outside/);
    expect(() => checkIgnitionConfig(cfg({ storage: { files: [{ path: '/etcetera/x' }] } }))).toThrow(/outside/);
    expect(() => checkIgnitionConfig(cfg({ storage: { files: [{ path: 'etc/x' }] } }))).toThrow(/absolute path/);
    expect(() => checkIgnitionConfig(cfg({ passwd: { users: [{ name: 'a', homeDir: '/srv/a' }] } }))).toThrow(/homeDir "\/srv\/a"/);
    // empty storage lists are fine (Butane writes them)
    expect(checkIgnitionConfig(cfg({ storage: { disks: [], files: [] } })).files).toBe(0);
  });
});
