/** Progress and result lines in the style of the `flux` CLI (► action, ✔ success, ✗ failure), on stderr. */
export const say = {
  action: (text: string) => process.stderr.write(`► ${text}\n`),
  success: (text: string) => process.stderr.write(`✔ ${text}\n`),
  failure: (text: string) => process.stderr.write(`✗ ${text}\n`),
  waiting: (text: string) => process.stderr.write(`◎ ${text}\n`),
};
