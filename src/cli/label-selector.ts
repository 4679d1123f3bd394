// Kubernetes label selectors as `kubectl -l` and `flux get -l` take them: comma-separated
// requirements `key=value`, `key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`, `key`, `!key`.

const KEY = String.raw`[A-Za-z0-9][-A-Za-z0-9_./]*`;
const VALUE = String.raw`[-A-Za-z0-9_.]*`;
const EQUALITY = new RegExp(String.raw`^(${KEY})\s*(==|=|!=)\s*(${VALUE})$`);
const SET = new RegExp(String.raw`^(${KEY})\s+(in|notin)\s*\(([^)]*)\)$`);
const EXISTS = new RegExp(String.raw`^(!?)\s*(${KEY})$`);

type Labels = Record<string, string> | undefined;

/** Whether labels match the selector; an empty selector matches everything. Throws naming what does not parse. */
export function labelSelector(text: string): (labels: Labels) => boolean {
  const requirements = split(text).map(requirement);
  return (labels) => requirements.every((matches) => matches(labels ?? {}));
}

/** The requirements, split at the commas outside `( … )`. */
function split(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = "";
  for (const char of text) {
    if (char === "," && depth === 0) {
      parts.push(current);
      current = "";
      continue;
    }
    depth += char === "(" ? 1 : char === ")" ? -1 : 0;
    current += char;
  }
  return [...parts, current].map((p) => p.trim()).filter(Boolean);
}

function requirement(text: string): (labels: Record<string, string>) => boolean {
  const equality = EQUALITY.exec(text);
  if (equality) {
    const [, key, operator, value] = equality as unknown as [string, string, string, string];
    return operator === "!=" ? (l) => l[key] !== value : (l) => l[key] === value;
  }
  const set = SET.exec(text);
  if (set) {
    const [, key, operator, list] = set as unknown as [string, string, string, string];
    const values = list.split(",").map((v) => v.trim());
    return operator === "in" ? (l) => values.includes(l[key]!) : (l) => !values.includes(l[key]!);
  }
  const exists = EXISTS.exec(text);
  if (exists) {
    const [, not, key] = exists as unknown as [string, string, string];
    return not ? (l) => !(key in l) : (l) => key in l;
  }
  throw new Error(`unable to parse label selector: '${text}' is not key=value, key!=value, key in (…), key or !key`);
}
