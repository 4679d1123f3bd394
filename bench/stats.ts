/** Median, min and max of samples (ms or any unit). Pure. */
export interface Summary {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function summarize(samples: number[]): Summary {
  if (samples.length === 0) throw new Error("no samples");
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  return { median, min: sorted[0]!, max: sorted.at(-1)!, n: sorted.length };
}

/** subject ÷ baseline of medians; below 1 means the subject is faster. */
export function ratio(subject: Summary, baseline: Summary): number {
  return baseline.median === 0 ? Number.NaN : subject.median / baseline.median;
}
