/**
 * A TPM on the host for the attestation tests: swtpm with tpm2-tools talking to it directly (TCTI
 * swtpm:), standing in for "another machine's TPM". Keys are made as the node's attest script makes
 * them (ECC endorsement key, ECC P-256 attestation key).
 */
import { execa } from 'execa';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface HostTpm {
  /** Its working folder (tpm2-tools' output files land here). */
  dir: string;
  tpm2(cmd: string, args: string[]): Promise<string>;
  /** The AK's public key (PEM). */
  akPem(): Promise<string>;
  stop(): Promise<void>;
}

export async function startHostTpm(dir: string): Promise<HostTpm> {
  mkdirSync(join(dir, 'state'), { recursive: true });
  const sock = join(dir, 's');
  const child = execa(
    'swtpm',
    [
      'socket',
      '--tpm2',
      '--server',
      `type=unixio,path=${sock}`,
      '--ctrl',
      `type=unixio,path=${sock}.ctrl`,
      '--tpmstate',
      `dir=${join(dir, 'state')}`,
      '--flags',
      'startup-clear',
    ],
    { reject: false },
  );
  const env = { TPM2TOOLS_TCTI: `swtpm:path=${sock}` };
  const tpm2 = async (cmd: string, args: string[]) => String((await execa(`tpm2_${cmd}`, args, { env, cwd: dir })).stdout);
  for (let i = 0; i < 100; i++) {
    if ((await execa('tpm2_getrandom', ['--hex', '4'], { env, reject: false })).exitCode === 0) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await tpm2('createek', ['-c', '0x81010001', '-G', 'ecc', '-u', 'ek.pub']);
  await tpm2('createak', ['-C', '0x81010001', '-c', 'ak.ctx', '-G', 'ecc', '-g', 'sha256', '-s', 'ecdsa', '-u', 'ak.pub', '-n', 'ak.name']);
  await tpm2('evictcontrol', ['-c', 'ak.ctx', '0x81010002']);
  return {
    dir,
    tpm2,
    akPem: async () => {
      await tpm2('readpublic', ['-c', '0x81010002', '-f', 'pem', '-o', 'ak.pem']);
      return readFileSync(join(dir, 'ak.pem'), 'utf8');
    },
    stop: async () => {
      child.kill('SIGTERM');
      await child;
    },
  };
}
