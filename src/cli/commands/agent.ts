import { Command } from "commander";
import type { InstallFlags } from "../agent.js";
import { fail, globals } from "../context.js";
import { version } from "../../version.js";

/** `sluice agent install --cluster NAME [--export]`. */
export function agentCommand(): Command {
  const agent = new Command("agent").description("The pull agent for clusters that expose no credentials");
  agent.addCommand(
    new Command("install")
      .description("Install the pull agent into the current kubeconfig cluster, or print its manifests with --export")
      .requiredOption(
        "--cluster <name>",
        "the registered cluster this agent serves (sluice create cluster NAME --mode agent)",
      )
      .requiredOption(
        "--bundle-key <key>",
        "how bundles are signed: kms:<key id> (recommended: its public key is embedded, the agent cannot sign) or hmac:<secret id with {cluster}> (one key per cluster, which its agent holds)",
        process.env.SLUICE_BUNDLE_KEY,
      )
      .option("--image <ref>", "agent container image (built from Dockerfile.agent)", `sluice-agent:${version}`)
      .option("--install-namespace <namespace>", "namespace the agent runs in", "sluice-system")
      .option("--region <region>", "AWS region of the control plane", process.env.AWS_REGION)
      .option("--role-arn <arn>", "IAM role for the agent's service account (IRSA); omit with EKS Pod Identity")
      .option("--poll-interval <duration>", "how often the agent checks for new bundles", "10s")
      .option("--export", "print the manifests instead of applying them", false)
      .action((flags: InstallFlags, command: Command) =>
        import("../agent.js").then((m) => m.install(flags, globals(command))).catch(fail),
      ),
  );
  return agent;
}
