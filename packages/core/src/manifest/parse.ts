/**
 * Turns manifest text into an ImageManifest: JSON, then the schema of its version, then (version 1)
 * the in-memory upgrade. Every error is one line naming the key path and what was found there.
 */
import type { z } from 'zod';
import { InputError } from '../errors.js';
import { manifestV1Schema, manifestV2Schema, type ImageManifest, type ImageManifestV1 } from './schema.js';

function valueAt(input: unknown, path: ReadonlyArray<string | number>): unknown {
  let v = input;
  for (const k of path) v = v !== null && typeof v === 'object' ? (v as Record<string | number, unknown>)[k] : undefined;
  return v;
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** One issue as `slots.A.salt: expected a hex string, got 12` (never "undefined"). */
export function formatIssue(issue: z.ZodIssue, input: unknown): string {
  const path = issue.path.join('.');
  const at = path ? `${path}: ` : '';
  if (issue.code === 'unrecognized_keys') return `${at}unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
  // Zod's own wording ("Required", "Expected array, received string") is replaced by the expected type.
  const generic = issue.message === 'Required' || /^Expected /.test(issue.message);
  const what = generic && issue.code === 'invalid_type' ? `${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}` : issue.message;
  const value = valueAt(input, issue.path);
  if (value === undefined) return `${at}missing (expected ${what})`;
  return `${at}expected ${what}, got ${show(value)}`;
}

/** Version 1 in version 2's shape: what it never recorded stays absent (`upgradedFrom: 1`). */
export function upgradeV1(m: ImageManifestV1): ImageManifest {
  const ss = m.disk.sectorSize;
  // Version 1 always wrote sha256 trees of 4096-byte blocks with hash type 1 (DEFAULT_VERITY_PARAMS).
  const slot = (s: ImageManifestV1['slots']['A']) => s && { ...s, salt: s.salt || null, hash: 'sha256' as const, hashType: 1 as const, dataBlockSize: 4096, hashBlockSize: 4096 };
  const { partitions, slots, manifestVersion: _v1, ...rest } = m;
  return {
    manifestVersion: 2,
    upgradedFrom: 1,
    ...rest,
    partitions: partitions.map((p) => ({ number: p.number, uuid: p.uuid, label: p.label, type: p.type, firstLba: p.startLba, lastLba: p.startLba + p.sizeBytes / ss - 1, role: p.role })),
    slots: { ...(slots.A ? { A: slot(slots.A) } : {}), ...(slots.B ? { B: slot(slots.B) } : {}) },
  };
}

export function parseManifestJson(text: string, file: string): ImageManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new InputError(`manifest is not valid JSON: ${(e as Error).message}`, { file });
  }
  const version = valueAt(raw, ['manifestVersion']);
  const schema = version === 1 ? manifestV1Schema : version === 2 ? manifestV2Schema : undefined;
  if (!schema) {
    const got = raw === null || typeof raw !== 'object' || Array.isArray(raw) ? `not an object: ${show(raw)}` : version === undefined ? 'missing' : `got ${show(version)}`;
    throw new InputError(`manifestVersion: expected 1 or 2, ${got}`, { file });
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issues = r.error.issues.map((i) => formatIssue(i, raw));
    throw new InputError(issues.length > 1 ? `${issues[0]} (and ${issues.length - 1} more)` : issues[0], { file });
  }
  return version === 1 ? upgradeV1(r.data as ImageManifestV1) : (r.data as ImageManifest);
}
