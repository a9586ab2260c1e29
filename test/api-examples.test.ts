/**
 * The `@example` of every export (TSDoc in packages/core/src, shown in the API reference) type-checks
 * against the built package, so an example cannot name an option, a field or a function that does not
 * exist. Each example becomes the body of an async function in a module that imports every export of
 * every entry point (the examples leave their imports out or repeat them); the few free names examples
 * share (`table`, `storage`, `options`, …) are declared once below with their real types. The examples
 * are not run (many need a device, a TPM or a boot): packages/core/README.md's are, in
 * test/core-readme.test.ts. Needs a build (`npm run build`).
 */
import { execa } from 'execa';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { coreConsumer, ROOT, tempDir } from './helpers.js';

const CORE = join(ROOT, 'packages/core');

/** The free names examples may use without declaring them, with their types. */
const PRELUDE = `import type { AttestReport, AttestVerdict, BuildOptions, DiskPicture, GptTable, ImageManifest, LayoutPlan, PartitionRecord, Pcr11Prediction, QemuRunResult, Storage, VerifyImageResult } from '@imgbuild/core';
import type { GptEntry, GptHeader } from '@imgbuild/core/gpt';
import type { VeritySuperblock } from '@imgbuild/core/verity';
declare global {
  const table: GptTable, storage: Storage, options: BuildOptions, plan: LayoutPlan, entry: GptEntry, header: GptHeader, sb: VeritySuperblock;
  const m: ImageManifest, manifest: ImageManifest, v: VerifyImageResult, run: QemuRunResult, picture: DiskPicture, records: PartitionRecord[];
  const verdict: AttestVerdict, report: AttestReport, prediction: Pcr11Prediction, uki: Buffer, text: string, akPem: string, nonce: string, trustedAk: string;
  const rootHash: string, hashOffset: number, work: () => Promise<void>;
}
`;

interface Example {
  file: string;
  line: number;
  code: string;
}

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    if (statSync(p).isDirectory()) return sources(p);
    return p.endsWith('.ts') && !p.endsWith('.test.ts') ? [p] : [];
  });
}

/** Every ```ts block after an `@example` tag in a doc comment. */
export function examplesIn(file: string, text: string): Example[] {
  const lines = text.split('\n');
  const out: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '* @example' || lines[i + 1]?.trim() !== '* ```ts') continue;
    const body: string[] = [];
    let k = i + 2;
    for (; k < lines.length && lines[k].trim() !== '* ```'; k++) body.push(lines[k].replace(/^\s*\* ?/, ''));
    out.push({ file, line: i + 1, code: body.join('\n') });
    i = k;
  }
  return out;
}

/** `import { … } from '<entry>'` for every export of every entry point in package.json, each name once. */
function importsOfEveryEntry(): string {
  const pkg = JSON.parse(readFileSync(join(CORE, 'package.json'), 'utf8')) as { exports: Record<string, { types?: string } | string> };
  const entries = Object.entries(pkg.exports).flatMap(([sub, t]) =>
    typeof t === 'object' && t.types ? [[join('@imgbuild/core', sub), join(CORE, t.types)] as const] : [],
  );
  const program = ts.createProgram(
    entries.map(([, d]) => d),
    {},
  );
  const checker = program.getTypeChecker();
  const seen = new Set<string>();
  return entries
    .map(([specifier, dts]) => {
      const names = checker
        .getExportsOfModule(checker.getSymbolAtLocation(program.getSourceFile(dts)!)!)
        .map((s) => s.name)
        .filter((n) => !seen.has(n));
      names.forEach((n) => seen.add(n));
      return names.length ? `import { ${names.join(', ')} } from '${specifier}';\n` : '';
    })
    .join('');
}

const examples = sources(join(CORE, 'src')).flatMap((f) => examplesIn(relative(ROOT, f), readFileSync(f, 'utf8')));

describe('the API reference examples', () => {
  it('are many: one per export at least', () => {
    expect(examples.length).toBeGreaterThan(150);
  });

  it('type-check against the built package', async () => {
    const dir = tempDir('imgbuild-api-examples-');
    coreConsumer(dir, 'api-examples');
    writeFileSync(join(dir, 'prelude.d.ts'), PRELUDE);
    const header = `import { readFile, writeFile } from 'node:fs/promises';\n${importsOfEveryEntry()}`;
    const origin = new Map<string, Example>();
    examples.forEach((ex, i) => {
      const name = `example-${String(i).padStart(3, '0')}.ts`;
      origin.set(name, ex);
      const body = ex.code
        .split('\n')
        .filter((l) => !/^import .* from '/.test(l))
        .join('\n');
      writeFileSync(join(dir, name), `${header}export async function example() {\n${body}\n}\n`);
    });
    const r = await execa(join(ROOT, 'node_modules/.bin/tsc'), ['-p', dir], { reject: false });
    // Each error named by the doc comment it comes from.
    const errors = String(r.stdout)
      .split('\n')
      .filter((l) => l.includes('error TS'))
      .map((l) => {
        const ex = origin.get(l.split('(')[0]);
        return ex ? `${ex.file}:${ex.line}: ${l.replace(/^[^:]*: /, '')}` : l;
      });
    expect(errors).toEqual([]);
    expect(r.exitCode).toBe(0);
  }, 180_000);
});
