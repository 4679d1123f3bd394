import { graphlib, layout } from "@dagrejs/dagre";
import { useMemo } from "preact/hooks";
import type { GraphNode, InventoryHealth, ObjectDetail } from "../api/types.js";
import { objectPath } from "./data.js";
import { HEALTH, toneClass } from "./parts.js";
import { navigate } from "./router.js";

interface Point {
  x: number;
  y: number;
}

const NODE_W = 220;
const NODE_H = 44;
const ICON = { True: "✔", False: "✗", Unknown: "◎", "-": "·" } as const;
type Health = InventoryHealth["objects"];

/**
 * Source → object → what it applied, laid out left to right by dagre; Flux objects link to their pages and show
 * their Ready, other objects their live health when the page read it.
 */
export function Graph({ graph, health = {} }: { graph: ObjectDetail["graph"]; health?: Health }) {
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
          <Node node={node} health={health} x={at.x - NODE_W / 2} y={at.y - NODE_H / 2} />
        ))}
      </svg>
      {graph.truncated && (
        <figcaption>Only the first objects are drawn; the inventory below lists them all.</figcaption>
      )}
    </figure>
  );
}

function Node({ node, health, x, y }: { node: GraphNode; health: Health; x: number; y: number }) {
  const live = node.ready ? undefined : health[node.id];
  const shown = live ? HEALTH[live.status] : undefined;
  const tone = shown?.tone ?? node.ready ?? "-";
  const icon = node.ready ? ICON[node.ready] : shown?.icon;
  const said = node.ready ? ` (Ready ${node.ready})` : live ? ` (${shown!.label}: ${live.message})` : "";
  const body = (
    <g transform={`translate(${x},${y})`} class={`node ${toneClass(tone)}`} data-health={live?.status}>
      <rect width={NODE_W} height={NODE_H} rx="6" />
      <text x="8" y="17" class="node-kind">
        {icon ? `${icon} ` : ""}
        {node.kind}
      </text>
      <text x="8" y="35" class="node-name">
        {clip(`${node.namespace}/${node.name}`)}
      </text>
      <title>{`${node.kind} ${node.namespace}/${node.name}${said}`}</title>
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
