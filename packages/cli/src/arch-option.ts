/** `--arch`, one option shared by every command where the machine matters (build, update, qemu, sysext build). */
import { Option } from 'commander';
import { ARCHITECTURE_NAMES, parseArchitecture, type Architecture } from '@imgbuild/core/arch';

/** The option; `fallback` is its default (none: the image's own architecture). An unknown name exits 2. */
export function archOption(what: string, fallback?: string): Option {
  const o = new Option('--arch <arch>', `${what}: x86-64 or arm64 (also x86_64, amd64, aarch64)`).choices(ARCHITECTURE_NAMES);
  return fallback ? o.default(fallback) : o;
}

/** The option's value as an architecture (already one of the choices). */
export function archOf(value: string | undefined): Architecture | undefined {
  return value === undefined ? undefined : parseArchitecture(value);
}
