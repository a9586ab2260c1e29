/**
 * How verify covers each partition, by its layout role. Roles meant to be written at run time are
 * reported as not covered; every other role that is neither the ESP nor a USR slot is digested at
 * build time, so a role added to the layout schema later is covered by default rather than skipped.
 */
export type Coverage = 'esp' | 'slot' | 'digest' | 'writable';

/** Roles whose partitions the running system writes (layout/spec.ts ROLES). */
export const WRITABLE_ROLES: readonly string[] = ['root', 'oem', 'data'];

export function coverageOf(role: string): Coverage {
  if (role === 'esp') return 'esp';
  if (role === 'usr-slot') return 'slot';
  return WRITABLE_ROLES.includes(role) ? 'writable' : 'digest';
}

/** `partition 4 (USR-B)`, the way every check names a partition. */
export function partName(p: { number: number; label: string }): string {
  return `partition ${p.number} (${p.label})`;
}
