/** The build file (imgbuild.json): its schema, reading and checking it, resolving it with flags, and building from it. */
export * from './schema.js';
export * from './parse.js';
export * from './load.js';
export * from './resolve.js';
export * from './recipe.js';
export * from './build.js';
