/** Progress and result lines in the style of the `flux` CLI (► action, ✔ success, ✗ failure), on stderr. */
export const say = {
  action: (text: string) => process.stderr.write(`► ${text}\n`),
  success: (text: string) => process.stderr.write(`✔ ${text}\n`),
  failure: (text: string) => process.stderr.write(`✗ ${text}\n`),
  waiting: (text: string) => process.stderr.write(`◎ ${text}\n`),
  warning: (text: string) => process.stderr.write(`⚠️ ${text}\n`),
};

/** Left-aligned columns separated by tabs' worth of spaces, like kubectl/flux tables. */
export function formatTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows
    .map(
      (r) =>
        r
          .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]! + 3)))
          .join("")
          .trimEnd() + "\n",
    )
    .join("");
}
