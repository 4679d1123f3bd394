// A small parser of Prometheus' text exposition format (version 0.0.4), for tests that scrape a real endpoint.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Every sample line of an exposition; `# HELP`/`# TYPE` lines are skipped. Throws on a line it cannot read. */
export function parseExposition(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const name = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0];
    if (!name) throw new Error(`not a sample line: ${line}`);
    let rest = line.slice(name.length);
    const labels: Record<string, string> = {};
    if (rest.startsWith("{")) {
      rest = rest.slice(1);
      while (!rest.startsWith("}")) {
        const label = /^([a-zA-Z_][a-zA-Z0-9_]*)="/.exec(rest);
        if (!label) throw new Error(`bad label in: ${line}`);
        rest = rest.slice(label[0].length);
        let value = "";
        for (;;) {
          const char = rest[0];
          if (char === undefined) throw new Error(`unterminated label value in: ${line}`);
          rest = rest.slice(1);
          if (char === '"') break;
          if (char !== "\\") value += char;
          else {
            const escaped = rest[0];
            rest = rest.slice(1);
            value += escaped === "n" ? "\n" : escaped;
          }
        }
        labels[label[1]!] = value;
        if (rest.startsWith(",")) rest = rest.slice(1);
      }
      rest = rest.slice(1);
    }
    const [number] = rest.trim().split(" ");
    const value = number === "+Inf" ? Infinity : number === "-Inf" ? -Infinity : Number(number);
    if (number === undefined || (Number.isNaN(value) && number !== "NaN")) throw new Error(`bad value in: ${line}`);
    samples.push({ name, labels, value });
  }
  return samples;
}

/** The first sample named `name` whose labels include `labels`. */
export function sample(samples: Sample[], name: string, labels: Record<string, string>): Sample | undefined {
  return samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
}
