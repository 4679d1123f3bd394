import type { SourceTree, TreeEntry } from "./archive.js";

/** An error with a file system code, so a collision reads as one on disk does. */
function collision(code: "EEXIST" | "EISDIR", path: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: ${path}`), { code });
}

interface Node {
  directory: boolean;
  executable: boolean;
  body?: Buffer;
  identity?: string;
}

/**
 * Folders and regular files held in memory (an OCI layer read with readArchive), with the rules of
 * a file system written with `wx`: a path is taken once, a file cannot hold entries, and folders
 * are made as their contents need them.
 */
export class MemoryTree implements SourceTree {
  private readonly nodes = new Map<string, Node>([["", { directory: true, executable: false }]]);
  private readonly children = new Map<string, Set<string>>([["", new Set()]]);

  addDirectory(path: string): void {
    const found = this.nodes.get(path);
    if (found && !found.directory) throw collision("EEXIST", path);
    if (!found) this.add(path, { directory: true, executable: false });
  }

  /** `identity`: what SourceTree.identity says of the file (only a name Sluice computed from `body` itself). */
  addFile(path: string, body: Buffer, executable: boolean, identity?: string): void {
    const found = this.nodes.get(path);
    if (found) throw collision(found.directory ? "EISDIR" : "EEXIST", path);
    this.add(path, { directory: false, executable, body, identity });
  }

  identity(path: string): string | undefined {
    return this.nodes.get(path)?.identity;
  }

  async list(folder: string): Promise<TreeEntry[]> {
    return [...(this.children.get(folder) ?? [])].map((name) => {
      const node = this.nodes.get(folder ? `${folder}/${name}` : name)!;
      return { name, directory: node.directory, executable: node.executable };
    });
  }

  async read(path: string): Promise<Buffer | undefined> {
    return this.nodes.get(path)?.body;
  }

  private add(path: string, node: Node): void {
    const slash = path.lastIndexOf("/");
    const [parent, name] = slash < 0 ? ["", path] : [path.slice(0, slash), path.slice(slash + 1)];
    this.addDirectory(parent); // throws when a file holds that path
    this.nodes.set(path, node);
    if (node.directory) this.children.set(path, new Set());
    this.children.get(parent)!.add(name);
  }
}
