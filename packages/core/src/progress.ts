/** Progress reporting is a callback, so the library stays silent and the CLI decides how to show it. */
export type ProgressFn = (done: number, total: number, phase?: string) => void;
export const noProgress: ProgressFn = () => {};
