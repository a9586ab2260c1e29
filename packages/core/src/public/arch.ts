/**
 * `@imgbuild/core/arch`: the machine architectures imgbuild builds for, cheap to load.
 *
 * @example
 * ```ts
 * import { ARCHITECTURE_NAMES, parseArchitecture } from '@imgbuild/core/arch';
 *
 * const arch = parseArchitecture(process.argv[2] ?? 'x86-64');
 * if (!arch) throw new Error(`unknown architecture; one of ${ARCHITECTURE_NAMES.join(', ')}`);
 * ```
 *
 * @module arch
 */
export { ARCHITECTURES, ARCHITECTURE_NAMES, parseArchitecture, type Architecture } from '../arch.js';
