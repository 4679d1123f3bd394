import { Command } from "commander";
import { describe, expect, it } from "vitest";
import { withPflagBooleans } from "../../src/cli/pflag.js";

// A program shaped like sluice's: global value options, nested subcommands, booleans with and without negations.
const program = () => {
  const root = new Command("sluice").option("-n, --namespace <ns>").option("--export");
  const create = new Command("create");
  create.addCommand(
    new Command("kustomization")
      .alias("ks")
      .argument("<name>")
      .option("--prune")
      .option("--wait")
      .option("--path <dir>"),
  );
  root.addCommand(create);
  root.addCommand(new Command("run").option("--no-remote-bases").option("--port <port>"));
  return root;
};
const rewrite = (...args: string[]) => withPflagBooleans(program(), ["node", "sluice", ...args]).slice(2);

describe("flux's --flag=true|false for boolean flags", () => {
  it("turns =true into the flag and =false into nothing for a flag without a negation", () => {
    expect(rewrite("create", "kustomization", "app", "--prune=true", "--wait=false", "--export=TRUE")).toEqual([
      "create",
      "kustomization",
      "app",
      "--prune",
      "--export",
    ]);
  });

  it("finds the subcommand past global options that take a value, and through aliases", () => {
    expect(rewrite("-n", "apps", "create", "ks", "app", "--prune=true")).toEqual([
      "-n",
      "apps",
      "create",
      "ks",
      "app",
      "--prune",
    ]);
    expect(rewrite("--namespace", "create", "create", "ks", "x", "--wait=true")).toEqual([
      "--namespace",
      "create",
      "create",
      "ks",
      "x",
      "--wait",
    ]);
  });

  it("maps a negated flag both ways", () => {
    expect(rewrite("run", "--no-remote-bases=true")).toEqual(["run", "--no-remote-bases"]);
    expect(rewrite("run", "--no-remote-bases=false")).toEqual(["run"]);
  });

  it("leaves value options, unknown flags, other values and everything after -- to commander", () => {
    expect(rewrite("create", "ks", "app", "--path=true", "--prune=yes", "--bogus=true", "--", "--prune=true")).toEqual([
      "create",
      "ks",
      "app",
      "--path=true",
      "--prune=yes",
      "--bogus=true",
      "--",
      "--prune=true",
    ]);
    expect(rewrite("run", "--prune=true")).toEqual(["run", "--prune=true"]);
  });
});
