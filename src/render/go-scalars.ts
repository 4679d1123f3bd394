import { isScalar, Scalar, visit, type Document } from "yaml";

/** Plain scalars that may be numbers or timestamps: the only ones Go's YAML and this YAML 1.2 parser can read apart. */
const NUMBER_LIKE = /^[-+.0-9]/;
/** Decimal numbers without leading zeros, and 0x/0o numbers: both parsers give them the same value. */
const SAME_NUMBER =
  /^(?:[-+]?(?:0|[1-9][0-9]*)(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|[-+]?\.[0-9]+(?:[eE][-+]?[0-9]+)?|0x[0-9a-fA-F]+|0o[0-7]+)$/;
/** Go's integers and floats once its `_` separators are dropped (any base prefix, a sign before it, YAML 1.1 octals). */
const GO_NUMBER =
  /^[-+]?(?:0[xX][0-9a-fA-F]+|0[oO]?[0-7]+|0[bB][01]+|[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+(?:[eE][-+]?[0-9]+)?)$/;
/** Where Go tries a timestamp: four digits and a dash. */
const TIMESTAMP_LIKE = /^[0-9]{4}-/;

/**
 * Whether kustomize would give a value of `doc` another value than this parser does. kustomize reads YAML with Go's
 * yaml.v3 and prints its objects through Go values: a plain `0777` becomes 511 (YAML 1.1's octal), `2001-12-14` a
 * timestamp `2001-12-14T00:00:00Z`, `1_000` the number 1000, where YAML 1.2 reads 777 and two strings. Explicit tags
 * (`!!binary`, `!!timestamp`) and keys that are not strings count too. Errs towards yes: a yes only sends the render
 * to kustomize.
 */
export function readsDifferentlyInGo(doc: Document.Parsed): boolean {
  let differs = false;
  visit(doc, {
    Node(key, node) {
      if (node.tag || (isScalar(node) && node.type === Scalar.PLAIN && scalarDiffers(node, key === "key"))) {
        differs = true;
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return differs;
}

function scalarDiffers(node: Scalar, isKey: boolean): boolean {
  const source = node.source ?? String(node.value);
  if (typeof node.value === "symbol") return false; // the merge key `<<`, which both resolve
  if (typeof node.value !== "string") {
    if (isKey) return true;
    if (typeof node.value !== "number") return false; // booleans and null: the same words in both
    return !SAME_NUMBER.test(source) || !Number.isFinite(node.value) || Object.is(node.value, -0);
  }
  return NUMBER_LIKE.test(source) && (GO_NUMBER.test(source.replaceAll("_", "")) || TIMESTAMP_LIKE.test(source));
}
