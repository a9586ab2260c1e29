/**
 * Progress reporting is a callback, so the library stays silent and the CLI decides how to show it.
 *
 * @example
 * ```ts
 * await buildImage({ ...options, onProgress: (done, total, phase) => process.stderr.write(`\r${phase} ${Math.round((100 * done) / total)}%`) });
 * ```
 */
export type ProgressFn = (done: number, total: number, phase?: string) => void;
export const noProgress: ProgressFn = () => {};
