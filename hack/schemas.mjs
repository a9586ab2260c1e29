#!/usr/bin/env node
/**
 * Writes packages/core/schemas/*.schema.json from the zod schemas (packages/core/src/schemas/outputs.ts
 * and manifest/schema.ts), the one source of truth. `npm run schemas` after changing an output;
 * test/schemas.test.ts fails while the committed files and the zod schemas differ.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { zodToJsonSchema } from 'zod-to-json-schema';
import { manifestV1Schema, manifestV2Schema, OUTPUT_SCHEMAS } from '../packages/core/dist/index.js';

export const SCHEMA_DIR = join(dirname(fileURLToPath(import.meta.url)), '../packages/core/schemas');

function jsonSchema(name, title, schema) {
  const s = zodToJsonSchema(schema, { $refStrategy: 'none', target: 'jsonSchema7' });
  return { $schema: s.$schema, $id: `https://imgbuild.invalid/schemas/${name}.schema.json`, title, ...s };
}

/** File name → text, for every schema. */
export function generateSchemas() {
  const out = {
    'manifest.schema.json': jsonSchema('manifest', 'imgbuild image manifest, version 2 (what build and update write)', manifestV2Schema),
    'manifest-v1.schema.json': jsonSchema('manifest-v1', 'imgbuild image manifest, version 1 (still read)', manifestV1Schema),
  };
  for (const [name, schema] of Object.entries(OUTPUT_SCHEMAS)) {
    out[`${name}.schema.json`] = jsonSchema(name, `imgbuild ${name.replace('-', ' ')} --json`, schema);
  }
  return Object.fromEntries(Object.entries(out).map(([f, s]) => [f, JSON.stringify(s, null, 2) + '\n']));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  mkdirSync(SCHEMA_DIR, { recursive: true });
  for (const [file, text] of Object.entries(generateSchemas())) writeFileSync(join(SCHEMA_DIR, file), text);
  console.log(`wrote ${Object.keys(generateSchemas()).length} schemas to ${SCHEMA_DIR}`);
}
