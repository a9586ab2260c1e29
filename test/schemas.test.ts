/**
 * The JSON Schema files in packages/core/schemas/ are generated from the zod schemas (the one source
 * of truth: the manifest's parser and the output schemas) by hack/schemas.mjs. This fails while a
 * committed file and its zod schema differ: run `npm run build && npm run schemas`.
 */
import { Ajv } from 'ajv';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
// @ts-expect-error: a plain .mjs script without types
import { generateSchemas, SCHEMA_DIR } from '../hack/schemas.mjs';

const generated: Record<string, string> = generateSchemas();

describe('committed JSON Schemas', () => {
  it('are exactly the files generated from the zod schemas, none missing, none extra', () => {
    expect(readdirSync(SCHEMA_DIR).sort()).toEqual(Object.keys(generated).sort());
  });

  it.each(Object.keys(generated))('%s matches its zod schema', (file) => {
    expect(readFileSync(join(SCHEMA_DIR, file), 'utf8')).toBe(generated[file]);
  });

  it('compile under ajv (draft-07)', () => {
    const ajv = new Ajv({ strict: false });
    for (const text of Object.values(generated)) expect(() => ajv.compile(JSON.parse(text))).not.toThrow();
  });

  it('the manifest schema accepts the manifest the zod schema accepts, and refuses an unknown key as zod does', async () => {
    const { manifestV2Schema } = await import('../packages/core/src/manifest/schema.js');
    const ajv = new Ajv({ strict: false });
    const validate = ajv.compile(JSON.parse(generated['manifest.schema.json']));
    const fixture = JSON.parse(readFileSync(join(import.meta.dirname, 'fixtures/manifest-v2.json'), 'utf8'));
    expect(manifestV2Schema.safeParse(fixture).success).toBe(true);
    expect(validate(fixture), ajv.errorsText(validate.errors)).toBe(true);
    const bad = { ...fixture, slots: { A: { ...fixture.slots.A, sallt: '00' } } };
    expect(manifestV2Schema.safeParse(bad).success).toBe(false);
    expect(validate(bad)).toBe(false);
  });
});
