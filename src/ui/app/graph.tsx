import { graphlib, layout } from "@dagrejs/dagre";
import { useMemo } from "preact/hooks";
import type { GraphNode, ObjectDetail } from "../api/types.js";
import { objectPath } from "./data.js";
import { navigate } from "./router.js";

interface Point {
  x: number;
  y: number;
}

const NODE_W = 220;
const NODE_H = 44;
const ICON = { True: "✔", False: "✗", Unknown: "◎", "-": "·" } as const;

/** Source → object → what it applied, laid out left to right by dagre; Flux objects link to their pages. */
export function Graph({ graph }: { graph: ObjectDetail["graph"] }) {
  const laid = useMemo(() => {
    const g = new graphlib.Graph();
    g.setGraph({ rankdir: "LR", nodesep: 12, ranksep: 60, marginx: 8, marginy: 8 });
    g.setDefaultEdgeLabel(() => ({}));
    for (const n of graph.nodes) g.setNode(n.id, { width: NODE_W, height: NODE_H });
    for (const [from, to] of graph.edges) g.setEdge(from, to);
    layout(g);
    const size = g.graph() as { width?: number; height?: number };
    return {
      width: size.width ?? 0,
      height: size.height ?? 0,
      nodes: graph.nodes.map((n) => ({ node: n, at: g.node(n.id) as { x: number; y: number } })),
      edges: g.edges().map((e: unknown) => (g.edge(e) as { points: Point[] }).points),
    };
  }, [graph]);
  return (
    <figure class="graph">
      <svg
        viewBox={`0 0 ${laid.width} ${laid.height}`}
        width={laid.width}
        height={laid.height}
        role="group"
        aria-label={`Graph of ${graph.nodes.length} objects`}
      >
        {laid.edges.map((points: Point[]) => (
          <polyline class="edge" points={points.map((p) => `${p.x},${p.y}`).join(" ")} />
        ))}
        {laid.nodes.map(({ node, at }) => (
          <Node node={node} x={at.x - NODE_W / 2} y={at.y - NODE_H / 2} />
        ))}
      </svg>
      {graph.truncated && (
        <figcaption>Only the first objects are drawn; the inventory below lists them all.</figcaption>
      )}
    </figure>
  );
}

function Node({ node, x, y }: { node: GraphNode; x: number; y: number }) {
  const state = node.ready ?? "-";
  const body = (
    <g transform={`translate(${x},${y})`} class={`node ready-${state === "-" ? "none" : state.toLowerCase()}`}>
      <rect width={NODE_W} height={NODE_H} rx="6" />
      <text x="8" y="17" class="node-kind">
        {node.ready ? `${ICON[state]} ` : ""}
        {node.kind}
      </text>
      <text x="8" y="35" class="node-name">
        {clip(`${node.namespace}/${node.name}`)}
      </text>
      <title>{`${node.kind} ${node.namespace}/${node.name}${node.ready ? ` (Ready ${node.ready})` : ""}`}</title>
    </g>
  );
  if (!node.stored) return body;
  const href = objectPath(node.kind, node.namespace, node.name);
  return (
    <a
      href={href}
      onClick={(e) => {
        e.preventDefault();
        navigate(href);
      }}
    >
      {body}
    </a>
  );
}

const clip = (text: string) => (text.length > 30 ? `${text.slice(0, 29)}…` : text);
