/**
 * Worker thread entry: opens its own descriptors on the source and destination files and runs level
 * units from the shared counter (see `runUnits`). Progress goes into its own slot of a shared
 * Float64Array; mismatches and errors are posted back once at the end.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { LevelWorker, openLevelFiles, runUnits, type LevelJob } from './level.js';
import { hashGroups, type GroupJob } from './sparse.js';

interface WorkerInput {
  job: LevelJob;
  control: Int32Array;
  progress: Float64Array;
  slot: number;
}

if ((workerData as { kind?: string }).kind === 'sparse-groups') {
  // The whole-image digest (sparse.ts): hash groups of data blocks; results land in shared memory.
  hashGroups((workerData as { job: GroupJob }).job);
} else {
  await runLevelUnits();
}

async function runLevelUnits(): Promise<void> {
  const { job, control, progress, slot } = workerData as WorkerInput;
  const files = openLevelFiles(job);
  try {
    const w = new LevelWorker({ ...job, hasher: { ...job.hasher, salt: Buffer.from(job.hasher.salt) } }, files.src, files.dst, true, files.copy);
    const mismatches = await runUnits(w, control, (n) => (progress[slot] += n));
    parentPort!.postMessage({ mismatches });
  } finally {
    files.close();
  }
}
