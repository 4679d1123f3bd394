import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { program } from "../../src/cli/program.js";
import { COMMANDS, DIFFERENCES, EXTENSIONS, UNSUPPORTED, type CommandName } from "./flux-flags.js";
import { differences, FLUX_VERSION, fluxFlags, sluiceFlags, type Flag } from "./flux.js";

/** Where the two CLIs' flags of one command part, in the shape of the lists in flux-flags.ts. */
interface Comparison {
  unsupported: string[];
  extensions: string[];
  differences: Record<string, string[]>;
}

async function compare(command: CommandName, fluxRoot: Map<string, Flag>): Promise<Comparison> {
  const path = command ? command.split(" ") : [];
  const theirs = await fluxFlags(path);
  // The root's flags are global in both CLIs: compared once, for "".
  if (command) for (const name of fluxRoot.keys()) theirs.delete(name);
  const ours = sluiceFlags(program(), path);
  const both = [...theirs.keys()].filter((name) => ours.has(name));
  return {
    unsupported: [...theirs.keys()].filter((name) => !ours.has(name)).sort(),
    extensions: [...ours.keys()].filter((name) => !theirs.has(name)).sort(),
    differences: Object.fromEntries(
      both
        .map((name) => [name, differences(ours.get(name)!, theirs.get(name)!)] as const)
        .filter(([, d]) => d.length > 0),
    ),
  };
}

describe(`sluice's flags against flux ${FLUX_VERSION}'s (parsed from its --help)`, () => {
  it.each(COMMANDS.map((command) => [command || "(global flags)", command] as const))(
    "%s: every flux flag is accepted alike or listed as unsupported with a reason, every sluice-only flag listed",
    async (_, command) => {
      // Act
      const found = await compare(command, await fluxFlags([]));
      // Assess
      expect({
        unsupported: found.unsupported,
        extensions: found.extensions,
        differences: found.differences,
      }).toEqual({
        unsupported: Object.keys(UNSUPPORTED[command] ?? {}).sort(),
        extensions: Object.keys(EXTENSIONS[command] ?? {}).sort(),
        differences: Object.fromEntries(Object.entries(DIFFERENCES[command] ?? {}).map(([f, d]) => [f, d.differs])),
      });
      const reasons = [
        ...Object.values(UNSUPPORTED[command] ?? {}),
        ...Object.values(EXTENSIONS[command] ?? {}),
        ...Object.values(DIFFERENCES[command] ?? {}).map((d) => d.reason),
      ];
      for (const reason of reasons) expect(reason.length).toBeGreaterThan(10);
    },
  );

  it("the README's CLI section names every flux flag Sluice does not accept", async () => {
    // Arrange
    const readme = await readFile("README.md", "utf8");
    const section = readme.slice(
      readme.indexOf("\n## CLI\n"),
      readme.indexOf("\n## ", readme.indexOf("\n## CLI\n") + 1),
    );
    // Act
    const unlisted = Object.values(UNSUPPORTED)
      .flatMap((flags) => Object.keys(flags))
      .filter((flag) => !section.includes(`\`${flag}\``));
    // Assess
    expect(unlisted).toEqual([]);
  });
});
