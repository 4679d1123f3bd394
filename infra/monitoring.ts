import { Duration } from "aws-cdk-lib";
import {
  Alarm,
  AlarmStatusWidget,
  ComparisonOperator,
  Dashboard,
  GraphWidget,
  MathExpression,
  Metric,
  TreatMissingData,
  type IAlarm,
} from "aws-cdk-lib/aws-cloudwatch";
import type { IFunction } from "aws-cdk-lib/aws-lambda";
import { Construct } from "constructs";

/** EMF namespace and service dimensions the functions publish under (src/runtime/lambda.ts, functions/*). */
const NAMESPACE = "Sluice";
const WORKER = { service: "sluice-worker" };
const TICK = { service: "sluice-tick" };
/** The agent writes a heartbeat every minute: ten without one is an agent down, not a slow poll. */
const AGENT_SILENCE = Duration.minutes(10);
const PERIOD = Duration.minutes(5);

export interface SluiceMonitoringProps {
  worker: IFunction;
  /** The dead-letter alarms the stack already has, shown on the dashboard. */
  deadLetterAlarms: IAlarm[];
  /** Clusters served by a pull agent: one last-contact alarm each. */
  agentClusters: string[];
}

/**
 * The CloudWatch side of Sluice's metrics (what `sluice run` serves to Prometheus): a dashboard of reconciles,
 * failures, durations, dead letters and agent contact, and alarms for reconciles failing and agents gone quiet.
 */
export class SluiceMonitoring extends Construct {
  readonly failingReconciles: Alarm;
  readonly agentContact: Alarm[];

  constructor(scope: Construct, id: string, props: SluiceMonitoringProps) {
    super(scope, id);
    const worker = (metricName: string, statistic: string) =>
      new Metric({ namespace: NAMESPACE, metricName, dimensionsMap: WORKER, statistic, period: PERIOD });
    // Failing for a quarter of an hour, not one transient error: Flux's own alerting waits for a Ready=False to last.
    this.failingReconciles = new Alarm(this, "FailingReconciles", {
      metric: worker("ReconcileErrors", "Sum"),
      threshold: 1,
      comparisonOperator: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      evaluationPeriods: 3,
      datapointsToAlarm: 3,
      treatMissingData: TreatMissingData.NOT_BREACHING,
      alarmDescription:
        "Sluice reconciles have failed in each of the last 15 minutes: `sluice get kustomizations -A --status-selector ready=false` (helmreleases, sources …) shows which",
    });
    this.agentContact = props.agentClusters.map(
      (cluster) =>
        new Alarm(this, `AgentContact-${cluster}`, {
          metric: new Metric({
            namespace: NAMESPACE,
            metricName: "AgentLastContactAge",
            dimensionsMap: { ...TICK, cluster },
            statistic: "Maximum",
            period: PERIOD,
          }),
          threshold: AGENT_SILENCE.toSeconds(),
          comparisonOperator: ComparisonOperator.GREATER_THAN_THRESHOLD,
          evaluationPeriods: 1,
          // No figure: the agent never wrote a heartbeat, or the tick cannot read it. Either way nobody applies.
          treatMissingData: TreatMissingData.BREACHING,
          alarmDescription: `The pull agent of cluster '${cluster}' has not written a heartbeat for ${AGENT_SILENCE.toMinutes()} minutes: its Kustomizations are not applied (sluice get clusters)`,
        }),
    );

    const byResult = (metricName: string, statistic: string, label: string) =>
      new MathExpression({
        expression: `SEARCH('{${NAMESPACE},service,kind,result} service="${WORKER.service}" MetricName="${metricName}"', '${statistic}', ${PERIOD.toSeconds()})`,
        label,
        period: PERIOD,
      });
    new Dashboard(this, "Dashboard", {
      widgets: [
        [
          new AlarmStatusWidget({
            title: "Alarms",
            alarms: [this.failingReconciles, ...props.deadLetterAlarms, ...this.agentContact],
            width: 24,
            height: 3,
          }),
        ],
        [
          new GraphWidget({
            title: "Reconciles by kind and result (controller_runtime_reconcile_total)",
            left: [byResult("Reconciles", "Sum", "")],
            width: 12,
          }),
          new GraphWidget({
            title: "Failing reconciles (controller_runtime_reconcile_errors_total)",
            left: [worker("ReconcileErrors", "Sum")],
            leftAnnotations: [{ value: 1, label: "alarm threshold" }],
            width: 12,
          }),
        ],
        [
          new GraphWidget({
            title: "Reconcile duration (gotk_reconcile_duration_seconds), ms",
            left: ["p50", "p90", "p99"].map((p) => worker("ReconcileDuration", p)),
            width: 12,
          }),
          new GraphWidget({
            title: "Average reconcile duration by kind and result, ms",
            left: [byResult("ReconcileDuration", "Average", "")],
            width: 12,
          }),
        ],
        [
          new GraphWidget({
            title: "Worker: errors and throttles",
            left: [props.worker.metricErrors({ period: PERIOD }), props.worker.metricThrottles({ period: PERIOD })],
            width: 12,
          }),
          new GraphWidget({
            title: "Agents: seconds since last contact",
            left: this.agentContact.map((alarm) => alarm.metric),
            leftAnnotations: [{ value: AGENT_SILENCE.toSeconds(), label: "alarm threshold" }],
            width: 12,
          }),
        ],
      ],
    });
  }
}
