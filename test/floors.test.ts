/**
 * The floors of @imgbuild/core (docs/architecture.md) are held by eslint's no-restricted-imports,
 * configured in eslint.config.mjs. `npm run lint` shows the tree keeps them; this file shows the rule
 * still bites: an import that runs up a floor, or sideways where no exception names it, is an error,
 * and the imports the floors allow are not. It also refuses a room that stands on no floor, so a new
 * folder cannot slip past the rule unplaced.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ESLint } from 'eslint';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers.js';

const eslint = new ESLint({ cwd: ROOT });

/** The no-restricted-imports messages for `source` if it were the file `path` (nothing is written). */
async function floorErrors(path: string, source: string): Promise<string[]> {
  const [result] = await eslint.lintText(source, { filePath: join(ROOT, path) });
  return result.messages.filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

const importOf = (spec: string) => `import * as m from '${spec}';\nexport const used = m;\n`;

describe('the floors lint rule', () => {
  // [the importing file, what it imports]: each runs against the floors.
  const upward: Array<[string, string]> = [
    ['packages/core/src/verify/probe.ts', '../image/build.js'], // a reader of images on the pipeline
    ['packages/core/src/manifest/probe.ts', '../verify/record.js'], // the manifest on its readers
    ['packages/core/src/sysext/probe.ts', '../image/build.js'],
    ['packages/core/src/qemu/probe.ts', '../image/update.js'], // running an image knows no build
    ['packages/core/src/gpt/probe.ts', '../layout/plan.js'], // a codec on the layout
    ['packages/core/src/verity/probe.ts', '../gpt/io.js'], // codecs stand beside each other, apart
    ['packages/core/src/layout/probe.ts', '../slot/state.js'],
    ['packages/core/src/boot/probe.ts', '../manifest/manifest.js'],
    ['packages/core/src/slot/probe.ts', '../boot/esp.js'], // one floor, no exception
    ['packages/core/src/qemu/probe.ts', '../verify/image.js'], // one floor, no exception
    ['packages/core/src/verify/probe.ts', '../qemu/run.js'], // the exception is bundle.js alone
    ['packages/core/src/signing/probe.ts', '../image/build.js'],
    ['packages/core/src/image/probe.ts', '../index.js'], // the face is above every room
    ['packages/core/src/errors.ts', './gpt/io.js'], // the ground imports no room
    ['packages/cli/src/commands/probe.ts', '../../../core/src/errors.js'], // the CLI uses the package
  ];
  for (const [file, spec] of upward) {
    it(`refuses ${spec} in ${file}`, async () => {
      const errors = await floorErrors(file, importOf(spec));
      expect(errors, `${file} importing ${spec}`).toHaveLength(1);
      expect(errors[0]).toMatch(/floors \(docs\/architecture\.md\)/);
    });
  }

  const allowed: Array<[string, string]> = [
    ['packages/core/src/verify/probe.ts', '../manifest/manifest.js'],
    ['packages/core/src/verify/probe.ts', '../qemu/bundle.js'],
    ['packages/core/src/verify/probe.ts', '../attest/pcr.js'],
    ['packages/core/src/image/probe.ts', '../verify/record.js'],
    ['packages/core/src/image/probe.ts', '../signing/plan.js'],
    ['packages/core/src/sysext/probe.ts', '../repro.js'],
    ['packages/core/src/gpt/probe.ts', '../storage.js'],
    ['packages/core/src/repro.ts', './exec.js'],
    ['packages/core/src/index.ts', './image/build.js'],
    ['packages/core/src/slot/slot.test.ts', '../boot/esp.js'], // tests are not held to the floors
  ];
  for (const [file, spec] of allowed) {
    it(`allows ${spec} in ${file}`, async () => {
      expect(await floorErrors(file, importOf(spec))).toEqual([]);
    });
  }

  it('places every room of packages/core/src on a floor', async () => {
    const { FLOORS } = (await import(join(ROOT, 'eslint.config.mjs'))) as { FLOORS: string[][] };
    const rooms = readdirSync(join(ROOT, 'packages/core/src'), { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
    const placed = FLOORS.flat();
    expect(rooms.filter((r) => !placed.includes(r)), 'add the room to FLOORS in eslint.config.mjs and to docs/architecture.md').toEqual([]);
  });
});
