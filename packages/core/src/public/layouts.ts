/**
 * `@imgbuild/core/layouts`: the built-in layouts by name, as specs, cheap to load (no planning, no
 * validation: `loadLayout` in the root entry does those).
 *
 * @example
 * ```ts
 * import { BUILTIN_LAYOUT_NAMES, BUILTIN_LAYOUTS } from '@imgbuild/core/layouts';
 *
 * for (const name of BUILTIN_LAYOUT_NAMES) console.log(name, BUILTIN_LAYOUTS[name].description ?? '');
 * ```
 *
 * @module layouts
 */
export { BUILTIN_LAYOUTS, BUILTIN_LAYOUT_NAMES } from '../layout/builtin.js';
export type { LayoutSpec, PartitionSpec, Role, SizeSpec } from '../layout/spec.js';
