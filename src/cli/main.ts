import { withPflagBooleans } from "./pflag.js";
import { program } from "./program.js";

const sluice = program();
await sluice.parseAsync(withPflagBooleans(sluice, process.argv));
