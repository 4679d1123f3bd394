import { InvalidArgumentError, type Command, type Option } from "commander";

/**
 * `flux` (pflag) accepts `--prune=true` and `--wait=false` for boolean flags, and Flux's own guides
 * write them that way; commander knows only `--prune` and `--no-prune`. This rewrites such tokens for
 * the command being invoked (and its ancestors' options): `=true` becomes the flag itself, `=false`
 * its negation when the command has one, else nothing (the flag's default is off). Other values and
 * everything after `--` are left for commander to judge.
 */
export function withPflagBooleans(root: Command, argv: string[]): string[] {
  const [node, script, ...args] = argv;
  const booleans = booleanFlags(commandChain(root, args));
  const out: string[] = [];
  let ended = false;
  for (const arg of args) {
    ended ||= arg === "--";
    const match = ended ? null : /^(--[^=]+)=(true|false)$/i.exec(arg);
    if (!match || !booleans.has(match[1]!)) {
      out.push(arg);
      continue;
    }
    const flag = match[1]!;
    const opposite = flag.startsWith("--no-") ? `--${flag.slice(5)}` : `--no-${flag.slice(2)}`;
    if (match[2]!.toLowerCase() === "true") out.push(flag);
    else if (booleans.has(opposite)) out.push(opposite);
  }
  return [node!, script!, ...out];
}

/**
 * The root and the subcommands the arguments name, in order (`-n apps create kustomization` → root,
 * create, kustomization): values of options that take one are skipped, not taken for subcommands.
 */
function commandChain(root: Command, args: string[]): Command[] {
  const chain = [root];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === "--") break;
    if (arg.startsWith("-")) {
      const option = chain
        .flatMap((c) => c.options as readonly Option[])
        .find((o) => o.long === arg || o.short === arg);
      if (option && (option.required || option.optional) && !arg.includes("=")) i++;
      continue;
    }
    const next = chain.at(-1)!.commands.find((c) => c.name() === arg || c.aliases().includes(arg));
    if (next) chain.push(next);
  }
  return chain;
}

/** Long names of the options that take no value (`--prune`, `--no-remote-bases`). */
function booleanFlags(chain: Command[]): Set<string> {
  const options = chain.flatMap((c) => c.options as readonly Option[]);
  return new Set(options.filter((o) => !o.required && !o.optional && o.long).map((o) => o.long!));
}

/** pflag's StringSlice, for commander: repeatable, and each value comma-separated (`--x a,b --x c`). */
export function stringSlice(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(",").filter(Boolean)];
}

/** pflag's StringToString, for commander: `key=value` pairs, comma-separated and repeatable. */
export function stringToString(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const pairs = value.split(",").filter(Boolean);
  const bad = pairs.find((pair) => !/^[^=]+=/.test(pair));
  if (bad !== undefined) throw new InvalidArgumentError(`'${bad}' must be formatted as key=value`);
  return {
    ...previous,
    ...Object.fromEntries(pairs.map((p) => [p.slice(0, p.indexOf("=")), p.slice(p.indexOf("=") + 1)])),
  };
}
