/**
 * The bundled CLI (packages/cli/dist/bundle, made by `npm run build` with esbuild): it runs `verity
 * format` and `verity-verify` byte-identically to veritysetup, its verity worker threads find their
 * script beside the chunk that starts them, and the start-up path of the verity commands loads neither
 * zod nor execa nor the image builder (what they pay for at start-up is what they statically import).
 */
import { describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { ROOT, tempDir, tool } from './helpers.js';

const BUNDLE = join(ROOT, 'packages/cli/dist/bundle');
const ENTRY = join(BUNDLE, 'imgbuild.js');
const BIN = join(ROOT, 'packages/cli/bin/imgbuild.js');
const dir = tempDir('imgbuild-verity-bundle-');
const SALT = '5a'.repeat(32);
const UUID = '0badc0de-1234-4567-89ab-cdef01234567';

const files = () => readdirSync(BUNDLE).filter((f) => f.endsWith('.js'));
const text = (f: string) => readFileSync(join(BUNDLE, f), 'utf8');

/** Files a bundle file loads before it runs: its static imports, transitively (not `import()`). */
function staticClosure(start: string): Set<string> {
  const seen = new Set<string>();
  const todo = [start];
  while (todo.length) {
    const f = todo.pop()!;
    if (seen.has(f)) continue;
    seen.add(f);
    for (const m of text(f).matchAll(/(?:^|\n)(?:import|export)\s*(?:[^'"();]*?\sfrom\s*)?["']\.\/([^"']+)["']/g)) todo.push(m[1]);
  }
  return seen;
}

describe('bundled CLI', () => {
  it('is built, and bin/imgbuild.js runs it', () => {
    expect(existsSync(ENTRY), 'npm run build makes packages/cli/dist/bundle/imgbuild.js').toBe(true);
    expect(readFileSync(BIN, 'utf8')).toContain('../dist/bundle/imgbuild.js');
  });

  it('finds the verity worker beside the chunk that starts it', () => {
    const starters = files().filter((f) => /new URL\(["']\.\/worker\.js["'], import\.meta\.url\)/.test(text(f)));
    expect(starters.length, 'one chunk holds tree.ts').toBe(1);
    expect(existsSync(join(BUNDLE, 'worker.js'))).toBe(true);
    // The worker loads the hashing code only, not the CLI.
    const workerLoads = [...staticClosure('worker.js')].map(text).join('\n');
    expect(workerLoads).toContain('digestBatch');
    expect(workerLoads).not.toMatch(/commander|ZodError|execa/);
  });

  it('keeps zod, execa and the image builder off the verity start-up path', () => {
    const verityChunk = files().find((f) => /^verity-[\w-]+\.js$/.test(f));
    expect(verityChunk).toBeDefined();
    const loaded = new Set([...staticClosure('imgbuild.js'), ...staticClosure(verityChunk!)]);
    const code = [...loaded].map(text).join('\n');
    expect(code).toContain('formatVerity');
    expect(code, 'zod').not.toContain('ZodError');
    expect(code, 'execa').not.toMatch(/execaCoreAsync|node_modules\/execa/);
    expect(code, 'the image builder').not.toContain('image/build.js');
  });

  it('verity format with worker threads matches veritysetup byte for byte; verity-verify finds a changed block', async () => {
    // 12 MiB: three 4 MiB units, so --jobs 2 starts a worker next to the main thread.
    const data = join(dir, 'data.img');
    writeFileSync(data, randomBytes(12 << 20));
    const ours = join(dir, 'ours.hash');
    const theirs = join(dir, 'theirs.hash');
    const r = await execa('node', [ENTRY, 'verity', 'format', data, ours, '--salt', SALT, '--uuid', UUID, '--jobs', '2'], { reject: false });
    expect(r.exitCode, String(r.stderr)).toBe(0);
    const vs = await tool('veritysetup', ['format', '--salt', SALT, '--uuid', UUID, data, theirs]);
    const root = /Root hash:\s+([0-9a-f]+)/.exec(String(vs.stdout))![1];
    expect(/Root hash:\s+([0-9a-f]+)/.exec(String(r.stdout))![1]).toBe(root);
    expect(readFileSync(ours).equals(readFileSync(theirs)), 'hash files identical').toBe(true);

    const ok = await execa('node', [BIN, 'verity-verify', data, '--hash-file', ours, '--root-hash', root, '--jobs', '2'], { reject: false });
    expect(ok.exitCode, ok.stderr).toBe(0);
    // A changed block in the last unit (a worker's or the main thread's): named, exit 1.
    const buf = readFileSync(data);
    buf[3000 * 4096 + 7] ^= 1;
    writeFileSync(data, buf);
    const bad = await execa('node', [BIN, 'verity-verify', data, '--hash-file', ours, '--root-hash', root, '--jobs', '2'], { reject: false });
    expect(bad.exitCode).toBe(1);
    expect(bad.stderr).toMatch(/data block 3000 does not match/);
  });
});
