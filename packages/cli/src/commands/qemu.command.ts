/** `imgbuild qemu`: the words; the work is in qemu.ts. */
import type { Command } from 'commander';
import { examples, lazy } from '../action.js';
import { archOption, OPTIONS } from '../options.js';
import { integer, positive } from '../parse.js';

export function declareQemu(program: Command): void {
  program
    .command('qemu')
    .description('boot an image (or qemu_uefi bundle) under qemu with OVMF and report the boot marker')
    .argument('<image>', 'raw image, qcow2, or qemu_uefi bundle folder')
    .option('--timeout <seconds>', 'give up after this long', positive('--timeout'), 300)
    .option('--log <file>', 'write the serial console here')
    .option('--memory <MiB>', 'guest memory', positive('--memory'), 512)
    .option('--smp <n>', 'guest CPUs (qemu -smp; multi-threaded TCG boots a systemd OS about 30 % faster with 2)', integer('--smp', { min: 1, max: 64 }), 1)
    .option('--accel <accel>', 'qemu accelerator (tcg, or kvm:tcg)', 'tcg')
    .option('--allow-reset [n]', 'let the machine reset (kernel panic, watchdog, dm-verity) so the selector falls back within one run; with n, stop after more than n resets (failure reset-limit); without, --timeout bounds it', integer('--allow-reset'))
    .option('--no-watchdog', "give the guest no i6300esb watchdog (it has one by default; an idle one does nothing until the guest arms it)")
    .option('--secure-boot', "OVMF's Secure Boot firmware (SMM); a raw image boots with Debian's snakeoil keys unless --enroll-cert (a bundle built with --secure-boot needs neither)")
    .option('--enroll-cert <cert.pem>', 'Secure Boot with a fresh vars file (OVMF\'s or AAVMF\'s layout) enrolling this certificate as PK, KEK and db')
    .addOption(archOption("the machine (arm64: qemu-system-aarch64 -M virt with AAVMF); default: the image's manifest, else its ESP's loader"))
    .option('--tpm', 'attach a TPM 2.0 (swtpm; its state kept in <image>.tpm/, or tpm/ inside a bundle), stopped with the machine (x86-64)')
    .option('--tpm-state <dir>', 'with a TPM: keep its state in this folder instead (implies --tpm)')
    .option('--ignition <config.ign>', 'an Ignition config (JSON, spec 3.0-3.3) for the first boot, as fw_cfg opt/com.coreos/config; checked before the boot')
    .option('--credential <NAME=VALUE>', 'a systemd credential for the guest (SMBIOS type 11 on x86-64, fw_cfg opt/io.systemd.credentials/NAME elsewhere); repeatable', (v: string, acc: string[] = []) => [...acc, v])
    .option('--nic <none|user>', "the guest's network: none (default), or user: qemu's user-mode network (the host is 10.0.2.2)")
    .addOption(OPTIONS.json())
    .addHelpText('after', examples('imgbuild qemu disk.raw', 'imgbuild qemu os.raw --ignition node.ign --memory 2048 --smp 2', 'imgbuild qemu os.raw --credential "ssh.authorized_keys.root=$(cat ~/.ssh/id_ed25519.pub)" --credential firstboot.timezone=Europe/Berlin', 'imgbuild qemu image_qemu_uefi --timeout 600 --log console.log', 'imgbuild qemu signed.raw --enroll-cert db.crt --json', 'imgbuild qemu disk.raw --allow-reset 3 --json   # self-healing: at most 3 resets', 'imgbuild qemu arm64.raw --secure-boot   # AAVMF and its snakeoil vars', 'imgbuild qemu disk.raw --tpm --log console.log', 'imgbuild qemu os.raw --nic user   # e.g. to reach an update feed served on the host'))
    .action(lazy(() => import('./qemu.js')));
}
