/**
 * Roles a disk holds at most once, and the one rule for finding the ESP, whatever describes the
 * partitions (a plan, a manifest, a table read back). A second ESP would be a place that boot code
 * could be read from and that no check looks at: layouts with two are refused, not guessed between.
 */
import { LayoutError } from '../errors.js';
import type { Role } from './spec.js';

/** The firmware's ESP and the writable root each have one home. */
export const SINGLE_ROLES: readonly Role[] = ['esp', 'root'];

interface WithRole {
  number: number;
  label?: string;
  role?: string | null;
}

/** The partitions of `role`; LayoutError (naming `source`) when a single role appears more than once. */
export function partitionsOfRole<T extends WithRole>(parts: readonly T[], role: Role, source?: string): T[] {
  const found = parts.filter((p) => p.role === role);
  if (found.length > 1 && SINGLE_ROLES.includes(role)) throw new LayoutError(tooMany(role, found), { file: source });
  return found;
}

function tooMany(role: Role, found: readonly WithRole[]): string {
  const names = found.map((p) => `${p.number}${p.label ? ` (${p.label})` : ''}`).join(', ');
  return `${found.length} partitions have role "${role}" (${names}); a disk has at most one`;
}

/** The ESP, or undefined when there is none. */
export function findEsp<T extends WithRole>(parts: readonly T[], source?: string): T | undefined {
  return partitionsOfRole(parts, 'esp', source)[0];
}

/** Refuses a plan in which a single role appears twice, through the planner's own `fail`. */
export function checkSingleRoles(parts: readonly WithRole[], fail: (msg: string) => never): void {
  for (const role of SINGLE_ROLES) {
    const found = parts.filter((p) => p.role === role);
    if (found.length > 1) fail(tooMany(role, found));
  }
}
