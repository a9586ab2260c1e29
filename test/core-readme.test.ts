/**
 * packages/core/README.md's examples run here, so they cannot rot. Every ```ts block is written into a
 * temporary folder whose node_modules/@imgbuild/core is this package (the built dist, through its
 * package.json "exports", as a user's program resolves it), type-checked there with tsc, compiled with
 * esbuild and run in order with node, in a folder holding the inputs the README names (usr.squashfs
 * from examples/usr, a kernel, an initrd, a signing key). A ```text block right after a ts block is
 * that block's expected output: each of its lines must be a line of what the block printed, in order
 * (`…` matches any text). A block that throws, prints other lines, or no longer type-checks fails here.
 * Needs a build (`npm run build`).
 */
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { transform } from 'esbuild';
import { coreConsumer, fakeBzImage, ROOT, tempDir, tool } from './helpers.js';

export interface ReadmeExample {
  /** 1-based line of the ```ts fence in the README. */
  line: number;
  /** The heading the block sits under. */
  heading: string;
  code: string;
  /** The ```text block right after it, if any. */
  expected?: string[];
}

/** The ```ts blocks of a markdown text, each with the ```text block that follows it. */
export function readmeExamples(markdown: string): ReadmeExample[] {
  const lines = markdown.split('\n');
  const out: ReadmeExample[] = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    if (/^#+ /.test(lines[i])) heading = lines[i].replace(/^#+ /, '');
    const fence = /^```(\w*)/.exec(lines[i]);
    if (!fence) continue;
    const end = lines.indexOf('```', i + 1);
    if (end < 0) throw new Error(`README line ${i + 1}: unclosed code block`);
    const body = lines.slice(i + 1, end);
    if (fence[1] === 'ts') out.push({ line: i + 1, heading, code: body.join('\n') });
    else if (
      fence[1] === 'text' &&
      out.length &&
      out[out.length - 1].expected === undefined &&
      lines.slice(out[out.length - 1].line, i).filter((l) => l.startsWith('```')).length === 1
    ) {
      out[out.length - 1].expected = body;
    }
    i = end;
  }
  return out;
}

/** Whether `actual` holds every `expected` line, in order (`…` in an expected line matches any text). */
export function linesMatch(expected: readonly string[], actual: readonly string[]): string | null {
  let at = 0;
  for (const want of expected) {
    const re = new RegExp(
      `^${want
        .split('…')
        .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
        .join('.*')}$`,
    );
    while (at < actual.length && !re.test(actual[at])) at++;
    if (at === actual.length) return want;
    at++;
  }
  return null;
}

const README = join(ROOT, 'packages/core/README.md');
const examples = readmeExamples(readFileSync(README, 'utf8'));
const dir = tempDir('imgbuild-core-readme-');
const env = { SOURCE_DATE_EPOCH: '1700000000' };

beforeAll(async () => {
  coreConsumer(dir, 'readme-examples');
  // The inputs the README names.
  await tool('mksquashfs', [join(ROOT, 'examples/usr'), join(dir, 'usr.squashfs'), '-noappend', '-all-root', '-quiet', '-mkfs-time', '0', '-all-time', '0']);
  cpSync(join(ROOT, 'examples/usr'), join(dir, 'usr-v2'), { recursive: true });
  writeFileSync(join(dir, 'usr-v2/share/release-notes'), 'version 2\n');
  await tool('mksquashfs', [join(dir, 'usr-v2'), join(dir, 'usr-v2.squashfs'), '-noappend', '-all-root', '-quiet', '-mkfs-time', '0', '-all-time', '0']);
  writeFileSync(join(dir, 'vmlinuz'), fakeBzImage());
  writeFileSync(join(dir, 'initrd.img'), randomBytes(100_000));
  mkdirSync(join(dir, 'ext/usr/bin'), { recursive: true });
  writeFileSync(join(dir, 'ext/usr/bin/hello-ext'), '#!/bin/sh\necho hello from an extension\n', { mode: 0o755 });
  await tool('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    join(dir, 'db.key'),
    '-out',
    join(dir, 'db.crt'),
    '-days',
    '3650',
    '-subj',
    '/CN=readme db/',
  ]);
  // Every example as a file, type-checked together: a renamed export or a changed option fails here.
  examples.forEach((ex, i) => writeFileSync(join(dir, `example-${String(i + 1).padStart(2, '0')}.ts`), ex.code + '\nexport {};\n'));
}, 300_000);

describe('packages/core/README.md', () => {
  it('has examples in the order a newcomer needs them: build, slots, update, verify', () => {
    const order = ['Build an image', 'Read its slots', 'Update it', 'Verify it'].map((h) => examples.findIndex((e) => e.heading.startsWith(h)));
    expect(
      order.every((i) => i >= 0),
      JSON.stringify(order),
    ).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  it('type-checks against the built package', async () => {
    const r = await execa(join(ROOT, 'node_modules/.bin/tsc'), ['-p', dir], { reject: false });
    expect(r.exitCode, String(r.stdout)).toBe(0);
  }, 120_000);

  // One at a time, in order: later examples read what earlier ones wrote (the image, its manifest).
  for (const [i, ex] of examples.entries()) {
    it(`runs the example at line ${ex.line} (${ex.heading})`, async () => {
      const name = `example-${String(i + 1).padStart(2, '0')}`;
      const js = await transform(readFileSync(join(dir, `${name}.ts`), 'utf8'), { loader: 'ts', format: 'esm', target: 'node20' });
      writeFileSync(join(dir, `${name}.mjs`), js.code);
      const r = await execa('node', [`${name}.mjs`], { cwd: dir, env, reject: false });
      expect(r.exitCode, `README line ${ex.line}: ${r.stderr}`).toBe(0);
      const actual = String(r.stdout).split('\n');
      if (ex.expected) expect(linesMatch(ex.expected, actual), `README line ${ex.line}: expected line not printed; it printed:\n${r.stdout}`).toBeNull();
    }, 120_000);
  }
});

describe('the example checker', () => {
  it('finds blocks with their expected output, and fails on a line not printed', () => {
    const md = '# A\n```ts\nconsole.log(1)\n```\n\n```text\n1\n```\n## B\n```ts\nx\n```\n```sh\nls\n```\n```text\nnot mine\n```\n';
    const ex = readmeExamples(md);
    expect(ex.map((e) => [e.heading, e.code, e.expected])).toEqual([
      ['A', 'console.log(1)', ['1']],
      ['B', 'x', undefined],
    ]);
    expect(linesMatch(['a …', 'c'], ['x', 'a b', 'c'])).toBeNull();
    expect(linesMatch(['c', 'a …'], ['a b', 'c'])).toBe('a …');
    expect(linesMatch(['ok true'], ['ok false'])).toBe('ok true');
  });
});
