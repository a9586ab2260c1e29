/**
 * "Did you mean": the known word nearest to a typo, by Levenshtein distance. Twenty lines do what a
 * dependency would (the candidate lists are a dozen keys), so there is none.
 */

/** Levenshtein distance (insertions, deletions, substitutions), for short strings. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = cur;
  }
  return prev[b.length];
}

/**
 * The candidate nearest to `word` (case-insensitive), when it is close enough to be a typo: at most
 * `max` edits (default 2, and fewer than the word's length, so "a" does not suggest "to").
 */
export function nearestWord(word: string, candidates: readonly string[], max = 2): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const c of candidates) {
    const d = editDistance(word.toLowerCase(), c.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [c, d];
  }
  return bestDistance <= Math.min(max, word.length - 1) ? best : undefined;
}
