import { App, Validations } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { AwsSolutionsChecks } from "cdk-nag";
import { describe, expect, it } from "vitest";
import { SluiceStack } from "./stack.js";

// The CloudWatch side of Sluice's metrics: the names the worker and the tick publish as EMF (src/runtime/lambda.ts)
// are the ones the dashboard and the alarms watch.

const env = { account: "123456789012", region: "eu-west-1" };
// No bundling: the template is what is checked; cdk-nag runs on synth.
const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
const stack = new SluiceStack(app, "SluiceMonitored", {
  cluster: "eks:prod",
  env,
  agentClusters: [{ cluster: "edge-1", podIdentityCluster: "edge-1" }, { cluster: "edge-2" }],
});
const template = Template.fromStack(stack);
const json = JSON.stringify(template.toJSON());

describe("CloudWatch dashboard and alarms for Sluice's metrics (aws-cdk-lib, cdk-nag AwsSolutions)", () => {
  it("alarms when reconciles keep failing: ReconcileErrors of the worker, in each of three 5-minute periods", () => {
    template.hasResourceProperties("AWS::CloudWatch::Alarm", {
      Namespace: "Sluice",
      MetricName: "ReconcileErrors",
      Dimensions: [{ Name: "service", Value: "sluice-worker" }],
      Statistic: "Sum",
      Period: 300,
      Threshold: 1,
      ComparisonOperator: "GreaterThanOrEqualToThreshold",
      EvaluationPeriods: 3,
      DatapointsToAlarm: 3,
      TreatMissingData: "notBreaching",
    });
  });

  it("alarms per agent cluster when its last contact is older than 10 minutes, or was never seen", () => {
    for (const cluster of ["edge-1", "edge-2"])
      template.hasResourceProperties("AWS::CloudWatch::Alarm", {
        Namespace: "Sluice",
        MetricName: "AgentLastContactAge",
        Dimensions: Match.arrayWith([
          { Name: "cluster", Value: cluster },
          { Name: "service", Value: "sluice-tick" },
        ]),
        Statistic: "Maximum",
        Threshold: 600,
        ComparisonOperator: "GreaterThanThreshold",
        TreatMissingData: "breaching",
      });
    // The tick knows the clusters and may read their heartbeats, and nothing else under status/.
    template.hasResourceProperties("AWS::Lambda::Function", {
      Environment: { Variables: Match.objectLike({ SLUICE_AGENT_CLUSTERS: "edge-1,edge-2" }) },
    });
    expect(json).toContain("/status/edge-1/agent.json");
    expect(json).toContain("/status/edge-2/agent.json");
    expect(json).not.toContain("/status/*");
  });

  it("keeps the dead-letter alarms (one per dead-letter queue) and shows them on the dashboard with the others", () => {
    const alarms = template.findResources("AWS::CloudWatch::Alarm", {
      Properties: { MetricName: "ApproximateNumberOfMessagesVisible" },
    });
    expect(Object.keys(alarms)).toHaveLength(3);
    const dashboards = Object.values(template.findResources("AWS::CloudWatch::Dashboard"));
    expect(dashboards).toHaveLength(1);
    const widgets = dashboardWidgets(dashboards[0]);
    const alarmed = widgets.flatMap((w) => w.properties.alarms ?? []);
    expect(alarmed).toHaveLength(3 + 1 + 2); // dead letters, failing reconciles, two agents
    // The figures the worker and the tick publish (EMF), and the worker's own Lambda metrics.
    const metrics = widgets.flatMap((w) => w.properties.metrics ?? []);
    const named = metrics.filter((m) => typeof m[0] === "string").map((m) => `${m[0] as string}/${m[1] as string}`);
    expect(new Set(named)).toEqual(
      new Set([
        "Sluice/ReconcileErrors",
        "Sluice/ReconcileDuration",
        "Sluice/AgentLastContactAge",
        "AWS/Lambda/Errors",
        "AWS/Lambda/Throttles",
      ]),
    );
    const expressions = metrics.flatMap((m) =>
      typeof m[0] === "object" ? [(m[0] as { expression: string }).expression] : [],
    );
    expect(expressions).toEqual([
      `SEARCH('{Sluice,service,kind,result} service="sluice-worker" MetricName="Reconciles"', 'Sum', 300)`,
      `SEARCH('{Sluice,service,kind,result} service="sluice-worker" MetricName="ReconcileDuration"', 'Average', 300)`,
    ]);
  });

  it("synthesises with cdk-nag clean", () => {
    expect(() => app.synth()).not.toThrow();
  }, 120_000);
});

describe("a stack without agent clusters", () => {
  it("has no agent alarm and gives the tick no status/ access", () => {
    const plain = Template.fromStack(
      new SluiceStack(new App({ context: { "aws:cdk:bundling-stacks": [] } }), "Plain", { cluster: "eks:prod", env }),
    );
    expect(
      plain.findResources("AWS::CloudWatch::Alarm", { Properties: { MetricName: "AgentLastContactAge" } }),
    ).toEqual({});
    expect(JSON.stringify(plain.toJSON())).not.toContain("agent.json");
  });
});

interface Widget {
  properties: { alarms?: string[]; metrics?: unknown[][] };
}

/** The dashboard's widgets: its body is a Fn::Join of JSON text and tokens (ARNs, the region), read as JSON. */
function dashboardWidgets(dashboard: unknown): Widget[] {
  const [, parts] = (dashboard as { Properties: { DashboardBody: { "Fn::Join": [string, unknown[]] } } }).Properties
    .DashboardBody["Fn::Join"];
  const text = parts.map((part) => (typeof part === "string" ? part : "token")).join("");
  return (JSON.parse(text) as { widgets: Widget[] }).widgets;
}
