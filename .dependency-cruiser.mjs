// Layering of src/, checked by `npm run lint` (npx depcruise src). From the ground up:
//   ground    api/ (Flux's types and schemas), ports/ (Clock, Log, Dependents, DataKeyDecrypter)
//   services  apply/ cluster/ render/ sources/ artifacts/ store/ queue/ notify/ secrets/ bundle/ helm/
//   pipeline  pipeline/ (the reconcile phases both placements share)
//   reconcile controllers/ (the control plane), agent/ (the pull agent)
//   adapters  aws/ (AWS implementations of the ports and services)
//   wiring    runtime/ (local and Lambda), cli/, agent/main.ts
// A module may import its own layer's and lower layers' modules only, and nothing may form a cycle.
const layer = (name, folders) => ({ name, path: `^src/(${folders.join("|")})/` });
const ground = layer("ground", ["api", "ports"]);
const services = layer("services", [
  "apply",
  "cluster",
  "render",
  "sources",
  "artifacts",
  "store",
  "queue",
  "notify",
  "secrets",
  "bundle",
  "helm",
  "image",
]);
const pipeline = layer("pipeline", ["pipeline"]);
const reconcile = layer("reconcile", ["controllers", "agent"]);
const adapters = layer("adapters", ["aws"]);
const wiring = "^src/(runtime|cli)/|^src/agent/main\\.ts$";

/** `from` may not import anything above it. */
const below = (from, above) => ({
  name: `${from.name}-imports-upward`,
  severity: "error",
  comment: `${from.name} is below ${above.map((a) => a.name ?? "wiring").join(", ")}: move the shared part down (a port in src/ports/) instead of importing up`,
  from: { path: from.path, pathNot: wiring },
  to: { path: above.map((a) => a.path ?? a).join("|") },
});

export default {
  forbidden: [
    {
      name: "no-cycles",
      severity: "error",
      comment: "import loops make layers meaningless",
      from: {},
      to: { circular: true },
    },
    below(ground, [services, pipeline, reconcile, adapters, wiring]),
    below(services, [pipeline, reconcile, adapters, wiring]),
    below(pipeline, [reconcile, adapters, wiring]),
    below(reconcile, [adapters, wiring]),
    below(adapters, [reconcile, wiring]),
    {
      name: "agent-and-control-plane-apart",
      severity: "error",
      comment: "the pull agent and the control plane share code through bundle/ and pipeline/ only",
      from: { path: "^src/agent/" },
      to: { path: "^src/controllers/" },
    },
    {
      name: "control-plane-not-into-agent",
      severity: "error",
      from: { path: "^src/controllers/" },
      to: { path: "^src/agent/" },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    exclude: { path: "node_modules" },
  },
};
