// A typedoc plugin (packages/core/typedoc.json): every export of the public entry points carries an
// `@example`. Typedoc's own validation (notDocumented) sees only that a comment exists; this warns for
// each export without an example, and typedoc's treatWarningsAsErrors turns the warning into a failure
// of `npm run docs:api`.
import { Converter, ReflectionKind } from 'typedoc';

const EXPORT_KINDS =
  ReflectionKind.Function | ReflectionKind.Class | ReflectionKind.Interface | ReflectionKind.TypeAlias | ReflectionKind.Variable | ReflectionKind.Enum;

/** @param {import('typedoc').Application} app */
export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_END, (context) => {
    for (const r of context.project.getReflectionsByKind(EXPORT_KINDS)) {
      if (!r.parent || !r.parent.kindOf(ReflectionKind.Project | ReflectionKind.Module)) continue;
      const comments = [r.comment, ...(r.signatures ?? []).map((s) => s.comment)];
      if (comments.some((c) => c?.blockTags.some((t) => t.tag === '@example'))) continue;
      const where = r.sources?.[0] ? `${r.sources[0].fileName}:${r.sources[0].line}` : '';
      app.logger.warn(`${r.getFriendlyFullName()} (${ReflectionKind.singularString(r.kind)}), defined in ${where}, has no @example`);
    }
  });
}
