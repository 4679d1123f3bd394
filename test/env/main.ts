import { copyFile, mkdir } from "node:fs/promises";
import { resolve } from "node:path";
import { PODINFO } from "./podinfo.js";
import { onlyFromEnv, startTestbed } from "./testbed.js";

// `npm run testbed`: starts the local test bed and tells how to use it; Ctrl-C stops it.
// `npm run testbed -- --exit` starts it, prints the same, and stops (a quick health check).

const exitAfterStart = process.argv.includes("--exit");
console.error(
  "► starting the test bed (kube-apiserver + etcd + controller-manager, Git server, moto, OCI registry, Helm repo, sshd)",
);
const testbed = await startTestbed({
  only: onlyFromEnv(process.env.SLUICE_TESTBED),
  onProgress: (line) => console.error(`  ${line}`),
});
const { kube, git, aws, registry, helmRepo, sshd } = testbed.info;
// A stable path, so `export KUBECONFIG=…` keeps working across restarts of the test bed.
const kubeconfig = resolve(".sluice/testbed/kubeconfig");
if (kube) {
  await mkdir(resolve(".sluice/testbed"), { recursive: true });
  await copyFile(kube.kubeconfigPath, kubeconfig);
}
console.error(`✔ test bed up in ${testbed.startupSeconds.toFixed(1)} s`);
const lines = [
  kube && `Kubernetes     ${kube.version} at ${kube.server}`,
  kube && `               export KUBECONFIG=${kubeconfig}; kubectl get namespaces`,
  git && `Git (HTTP)     ${git.baseUrl}/<repo>.git  user ${git.username}  password ${git.password}  (${git.version})`,
  aws && `AWS (moto)     ${aws.endpoint}  region ${aws.region}  (${aws.version})`,
  registry && `OCI registry   ${registry.host}  (${registry.version}); podinfo chart at ${registry.podinfo}`,
  helmRepo &&
    `Helm repo      ${helmRepo.url}  (${helmRepo.version}); podinfo ${PODINFO.version} and ${PODINFO.upgradeVersion}`,
  sshd && `Git (SSH)      ssh://${sshd.user}@${sshd.host}:${sshd.port}${sshd.root}/<repo>.git  (${sshd.version})`,
  `Logs           ${testbed.logDir}`,
].filter(Boolean);
console.log(lines.join("\n"));

const stop = async () => {
  console.error("► stopping the test bed");
  await testbed.stop();
  console.error("✔ stopped");
};
if (exitAfterStart) await stop();
else {
  console.error("Press Ctrl-C to stop.");
  for (const signal of ["SIGINT", "SIGTERM"] as const)
    process.once(signal, () => void stop().then(() => process.exit(0)));
}
