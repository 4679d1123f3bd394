import { fieldTable } from "./flux-crds.js";

// Prints README's table of Flux fields (between its flux-fields markers): `npx tsx test/api/print-flux-fields.ts`.
console.log(fieldTable());
