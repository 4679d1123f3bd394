import { Composer, Lexer, LineCounter, Parser, visit, type CST, type Document, type YAMLError } from "yaml";
import { BuildError } from "./build-error.js";
import { outputOverLimit, type RenderBudget } from "./limits.js";

/**
 * A Kubernetes object is at most ~1.5 MiB (etcd's request limit), a few hundred thousand YAML tokens;
 * the parser holds ~200 bytes a token until its document is complete, so this bounds it to ~100 MB.
 */
const MAX_DOCUMENT_TOKENS = 500_000;
/** The parser also keeps ~1 KB per open flow collection (`[[[[…`); real manifests nest a few dozen. */
const MAX_FLOW_DEPTH = 256;

export interface DecodeOptions {
  /**
   * Refuse explicit tags (`!!binary` decodes to bytes here and to a string in Go) and anything the parser
   * warns about: a kustomization file must mean to us exactly what it means to kustomize's Go parser.
   */
  strict?: boolean;
  /** Sees each document as parsed, before its value is built (after the checks above). */
  onDocument?: (doc: Document.Parsed) => void;
}

/**
 * Decodes a multi-document YAML text within the render's budget: documents, bytes (aliases expanded),
 * alias count, tokens and nesting per document; merge keys (`<<`) resolved as Kubernetes' parser does.
 * Every failure is a BuildError naming `source`; parse errors give line, column and code, never the text
 * (the offending line may hold a secret).
 */
export function decodeYaml(text: string, source: string, budget: RenderBudget, options: DecodeOptions = {}): unknown[] {
  const lines = new LineCounter();
  const values: unknown[] = [];
  const documents = new Composer({ merge: true }).compose(
    boundedTokens(text, source, lines, () => values.length + 1),
    false,
    text.length,
  );
  for (const doc of documents) {
    const problem = doc.errors[0] ?? (options.strict ? doc.warnings[0] : undefined);
    if (problem) throw new BuildError(`${source}: ${describeProblem(problem, lines)}`);
    if (options.strict) refuseExplicitTags(doc, source, lines);
    options.onDocument?.(doc);
    budget.countDocument(source);
    const value = documentValue(doc, source, values.length + 1, budget);
    budget.countBytes(expandedSize(value, source, budget), source);
    values.push(value);
  }
  return values;
}

/** The parser's tokens, refusing a document over the token or flow nesting bounds before the parser holds it. */
function* boundedTokens(
  text: string,
  source: string,
  lines: LineCounter,
  documentNumber: () => number,
): Generator<CST.Token> {
  const parser = new Parser(lines.addNewLine);
  lines.addNewLine(0);
  let tokens = 0;
  let depth = 0;
  for (const lexeme of new Lexer().lex(text)) {
    if (++tokens > MAX_DOCUMENT_TOKENS) {
      throw new BuildError(
        `${source}: document ${documentNumber()} has more than ${MAX_DOCUMENT_TOKENS} YAML tokens, more than a Kubernetes object holds`,
      );
    }
    if (lexeme === "[" || lexeme === "{") depth++;
    else if (lexeme === "]" || lexeme === "}") depth = Math.max(0, depth - 1);
    if (depth > MAX_FLOW_DEPTH)
      throw new BuildError(
        `${source}: document ${documentNumber()} nests flow collections deeper than ${MAX_FLOW_DEPTH} levels`,
      );
    for (const token of parser.next(lexeme)) {
      if (token.type === "document") {
        tokens = 0;
        depth = 0;
      }
      yield token;
    }
  }
  yield* parser.end();
}

function refuseExplicitTags(doc: Document.Parsed, source: string, lines: LineCounter): void {
  visit(doc, {
    Node(_key, node) {
      if (!node.tag) return;
      const { line, col } = lines.linePos(node.range?.[0] ?? 0);
      throw new BuildError(
        `${source}: explicit YAML tag at line ${line}, column ${col}: tags are not allowed in a kustomization file`,
      );
    },
  });
}

function describeProblem(problem: YAMLError, lines: LineCounter): string {
  const { line, col } = lines.linePos(problem.pos[0]);
  return `invalid YAML at line ${line}, column ${col}: ${problem.code.toLowerCase().replaceAll("_", " ")} (${problem.code})`;
}

function documentValue(doc: Document.Parsed, source: string, number: number, budget: RenderBudget): unknown {
  try {
    return doc.toJS({ maxAliasCount: budget.limits.maxAliases });
  } catch (error) {
    if (error instanceof Error && error.message.startsWith("Excessive alias count")) {
      const limit = budget.limits.maxAliases;
      throw new BuildError(
        `${source}: document ${number} expands YAML aliases more than ${limit} times, over the limit (renderLimits.maxAliases)`,
      );
    }
    throw new BuildError(
      `${source}: document ${number} cannot be decoded (${error instanceof Error ? error.name : "error"})`,
    );
  }
}

/**
 * The size of `value` written out as JSON, every alias expanded (shared references count each time,
 * as they will when the object is sent), stopping once over what the budget has left. Iterative:
 * deep values cannot overflow the stack; an alias to its own ancestor (a cycle no JSON can hold) is refused.
 */
function expandedSize(value: unknown, source: string, budget: RenderBudget): number {
  const limit = budget.bytesLeft;
  let size = 0;
  const ancestors = new Set<object>();
  const stack: { value: unknown; leave?: object }[] = [{ value }];
  while (stack.length > 0) {
    const frame = stack.pop()!;
    if (frame.leave) {
      ancestors.delete(frame.leave);
      continue;
    }
    const current = frame.value;
    if (current === null || typeof current !== "object")
      size += typeof current === "string" ? current.length + 2 : String(current).length;
    else {
      if (ancestors.has(current)) throw new BuildError(`${source}: a YAML alias refers to its own ancestor (a cycle)`);
      ancestors.add(current);
      stack.push({ value: undefined, leave: current });
      const entries = Array.isArray(current)
        ? current.map((item: unknown) => ["", item] as const)
        : Object.entries(current);
      size += 2;
      for (const [key, item] of entries) {
        size += key.length + 3;
        stack.push({ value: item });
      }
    }
    if (size > limit) throw outputOverLimit(source, budget.limits);
  }
  return size;
}
