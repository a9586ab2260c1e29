/**
 * Layout files through the built CLI: a typo or a shared PARTUUID fails `layout show` and `gpt create`
 * with one line naming the file (and nothing written), `layout list` shows the built-ins.
 */
import { describe, expect, it } from 'vitest';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { imgbuild, tempDir } from './helpers.js';

const dir = tempDir('imgbuild-layout-cli-');
const USR_A = '7130c94a-213a-4e5a-8e26-6cce9662f132';

function layoutFile(name: string, partitions: object[]): string {
  const f = join(dir, name);
  writeFileSync(f, JSON.stringify({ name: name.replace(/\.json$/, ''), partitions }, null, 2));
  return f;
}

const esp = { number: 1, label: 'ESP', type: 'efi', size: '64MiB', role: 'esp' };
const slot = (number: number, label: string, uuid?: string) => ({ number, label, type: 'flatcar-usr', size: '128MiB', role: 'usr-slot', ...(uuid ? { uuid } : {}) });

/** stderr is exactly one line, `imgbuild: <file>: <problem>`. */
function oneLine(stderr: unknown): string {
  const lines = String(stderr).trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  return lines[0];
}

describe('layout show', () => {
  it('refuses a typo with one line naming the file and the key path', async () => {
    const f = layoutFile('typo.json', [esp, { ...slot(3, 'USR-A'), sise: '1GiB' }, slot(4, 'USR-B')]);
    const r = await imgbuild(['layout', 'show', f]);
    expect(r.exitCode).toBe(1);
    expect(oneLine(r.stderr)).toBe(`imgbuild: ${f}: partitions[1]: unknown key "sise" (did you mean "size"?)`);
    expect(String(r.stdout)).toBe('');
  });
  it('refuses a missing field without printing undefined', async () => {
    const { size: _size, ...noSize } = slot(4, 'USR-B');
    const f = layoutFile('missing.json', [esp, slot(3, 'USR-A'), noSize]);
    const r = await imgbuild(['layout', 'show', f]);
    expect(r.exitCode).toBe(1);
    const line = oneLine(r.stderr);
    expect(line).toMatch(new RegExp(`^imgbuild: ${f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: partitions\\[2\\]: missing "size" \\(expected a size`));
    expect(line).not.toMatch(/undefined/);
  });
  it('refuses a shared PARTUUID, naming both partitions and the GUID', async () => {
    const f = layoutFile('dup.json', [esp, slot(3, 'USR-A', USR_A), slot(4, 'USR-B', USR_A.toUpperCase())]);
    const r = await imgbuild(['layout', 'show', f, '--json']);
    expect(r.exitCode).toBe(1);
    expect(oneLine(r.stderr)).toBe(`imgbuild: ${f}: partitions 3 (USR-A) and 4 (USR-B) share uuid ${USR_A}; PARTUUID= would name either`);
  });
  it('still shows a layout without slots', async () => {
    const f = layoutFile('plain.json', [esp]);
    const r = await imgbuild(['layout', 'show', f]);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    expect(String(r.stdout)).toMatch(/^layout plain/);
  });
});

describe('gpt create', () => {
  it('refuses a shared PARTUUID and writes nothing', async () => {
    const f = layoutFile('dup2.json', [esp, slot(3, 'USR-A', USR_A), slot(4, 'USR-B', USR_A)]);
    const out = join(dir, 'dup.img');
    const r = await imgbuild(['gpt', 'create', '--layout', f, '-o', out]);
    expect(r.exitCode).toBe(1);
    expect(oneLine(r.stderr)).toContain(`${f}: partitions 3 (USR-A) and 4 (USR-B) share uuid ${USR_A}`);
    expect(existsSync(out)).toBe(false);
  });
  it('refuses a typo in attributes and writes nothing', async () => {
    const f = layoutFile('attr.json', [esp, { ...slot(3, 'USR-A'), attributes: { priority: 1, sucessful: true } }, slot(4, 'USR-B')]);
    const out = join(dir, 'attr.img');
    const r = await imgbuild(['gpt', 'create', '--layout', f, '-o', out]);
    expect(r.exitCode).toBe(1);
    expect(oneLine(r.stderr)).toBe(`imgbuild: ${f}: partitions[1].attributes: unknown key "sucessful" (did you mean "successful"?)`);
    expect(existsSync(out)).toBe(false);
  });
});

describe('layout list', () => {
  it('lists the built-ins with disk and slot size', async () => {
    const r = await imgbuild(['layout', 'list']);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const lines = String(r.stdout).trimEnd().split('\n');
    expect(lines[0]).toMatch(/^name\s+disk\s+usr slot\s+description$/);
    expect(lines.find((l) => l.startsWith('mini '))).toMatch(/^mini\s+382 MiB\s+128 MiB\s+Flatcar partitions/);
    expect(lines.find((l) => l.startsWith('flatcar '))).toMatch(/^flatcar\s+4536 MiB\s+1 GiB\s+/);
  });
  it('--json', async () => {
    const r = await imgbuild(['layout', 'list', '--json']);
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const rows = JSON.parse(String(r.stdout)) as { name: string; diskBytes: number; slotBytes: number; description: string }[];
    expect(rows.map((x) => x.name)).toEqual(['flatcar', 'flatcar-2025', 'sysupdate', 'sysupdate-mini', 'mini']);
    expect(rows.find((x) => x.name === 'flatcar')).toMatchObject({ diskBytes: 9289728 * 512, slotBytes: 1024 ** 3 });
    expect(rows.find((x) => x.name === 'mini')).toMatchObject({ diskBytes: 782336 * 512, slotBytes: 128 * 1024 ** 2 });
  });
});
