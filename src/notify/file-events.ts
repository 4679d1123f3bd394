import { appendFile, mkdir, readFile } from "node:fs/promises";
import { dirname } from "node:path";
import type { Events, FluxEvent } from "./events.js";

/** Local mode's events: appended to a JSON-lines file (read by `sluice events`) and handed to a printer. */
export class FileEvents implements Events {
  constructor(
    private readonly file: string,
    private readonly print: (event: FluxEvent) => void = () => {},
  ) {}

  async emit(event: FluxEvent): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true });
    await appendFile(this.file, `${JSON.stringify(event)}\n`);
    this.print(event);
  }
}

export async function readEvents(file: string): Promise<FluxEvent[]> {
  const text = await readFile(file, "utf8").catch(() => "");
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as FluxEvent);
}
