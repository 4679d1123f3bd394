import { describe, expect, it } from "vitest";
import type { Condition } from "../../src/api/meta.js";
import { CONDITION, REASON } from "../../src/api/reasons.js";
import { findCondition } from "../../src/pipeline/conditions.js";
import {
  markFailed,
  markProgressing,
  markReady,
  statusViolations,
  withCondition,
  withoutConditions,
  type ConditionedStatus,
  type Stamp,
} from "../../src/pipeline/status.js";

const at = (generation: number, second: number): Stamp => ({
  generation,
  now: new Date(Date.UTC(2026, 0, 1, 0, 0, second)),
});
const condition = (type: string, status: Condition["status"], observedGeneration = 1): Condition => ({
  type,
  status,
  reason: "R",
  message: "m",
  observedGeneration,
  lastTransitionTime: "2026-01-01T00:00:00.000Z",
});
/** A status never written yet. */
const fresh: ConditionedStatus = {};
const types = (status: ConditionedStatus) => (status.conditions ?? []).map((c) => `${c.type}=${c.status}`);

describe("status helpers (Flux's runtime/conditions)", () => {
  it("markReady sets Ready=True for the generation, drops Reconciling and Stalled, keeps the rest", () => {
    const before = {
      artifact: "kept",
      conditions: [condition(CONDITION.reconciling, "True"), condition(CONDITION.stalled, "True")],
    };
    const after = markReady(
      withCondition(
        before,
        { type: CONDITION.artifactInStorage, status: "True", reason: "Succeeded", message: "" },
        at(2, 1),
      ),
      at(2, 1),
      REASON.succeeded,
      "stored",
    );
    expect(types(after)).toEqual(["ArtifactInStorage=True", "Ready=True"]);
    expect(findCondition(after.conditions, CONDITION.ready)).toMatchObject({
      reason: "Succeeded",
      message: "stored",
      observedGeneration: 2,
    });
    expect(after).toMatchObject({ artifact: "kept", observedGeneration: 2 });
    expect(statusViolations(after, 2)).toEqual([]);
  });

  it("markFailed sets Ready=False with the reason and clears a Stalled condition of an earlier attempt", () => {
    const stalled = markFailed(fresh, at(1, 1), REASON.invalidSpec, "bad field", { stalled: true });
    expect(types(stalled)).toEqual(["Ready=False", "Stalled=True"]);
    expect(findCondition(stalled.conditions, CONDITION.stalled)).toMatchObject({ reason: "InvalidSpec" });

    const retried = markFailed(stalled, at(2, 2), REASON.dependencyNotReady, "waiting");
    expect(types(retried)).toEqual(["Ready=False"]);
    expect(retried.observedGeneration).toBe(2);
    expect(statusViolations(stalled, 1)).toEqual([]);
    expect(statusViolations(retried, 2)).toEqual([]);
  });

  it("markFailed ends a rollout in progress: Reconciling goes", () => {
    const progressing = markProgressing(fresh, at(1, 1), "waiting for Deployment/web");
    const failed = markFailed(progressing, at(1, 2), REASON.healthCheckFailed, "timed out", { stalled: true });
    expect(types(failed)).toEqual(["Ready=False", "Stalled=True"]);
    expect(statusViolations(failed, 1)).toEqual([]);
  });

  it("markProgressing keeps the time the rollout started while it stays in progress", () => {
    const first = markProgressing(fresh, at(1, 1), "applying");
    const second = markProgressing(first, at(1, 9), "still applying");
    expect(types(second)).toEqual(["Reconciling=True", "Ready=Unknown"]);
    expect(findCondition(second.conditions, CONDITION.reconciling)?.lastTransitionTime).toBe(
      "2026-01-01T00:00:01.000Z",
    );
    expect(findCondition(second.conditions, CONDITION.ready)?.message).toBe("still applying");
    expect(statusViolations(second, 1)).toEqual([]);
  });

  it("moves lastTransitionTime only when a condition's status changes", () => {
    const failed = markFailed(fresh, at(1, 1), REASON.buildFailed, "first");
    const failedAgain = markFailed(failed, at(1, 5), REASON.artifactFailed, "second");
    const ready = markReady(failedAgain, at(1, 9), REASON.reconciliationSucceeded, "applied");

    const readyOf = (s: ConditionedStatus) => findCondition(s.conditions, CONDITION.ready);
    expect(readyOf(failedAgain)).toMatchObject({
      reason: "ArtifactFailed",
      message: "second",
      lastTransitionTime: "2026-01-01T00:00:01.000Z",
    });
    expect(readyOf(ready)?.lastTransitionTime).toBe("2026-01-01T00:00:09.000Z");
  });

  it("never changes the status it is given", () => {
    const before = { conditions: [condition(CONDITION.ready, "True"), condition(CONDITION.stalled, "True")] };
    const copy = structuredClone(before);
    markReady(before, at(1, 1), REASON.succeeded, "");
    markFailed(before, at(1, 1), REASON.failed, "", { stalled: true });
    markProgressing(before, at(1, 1), "");
    withoutConditions(before, CONDITION.ready);
    expect(before).toEqual(copy);
  });

  it("every sequence of marks across a generation bump leaves a status the checker finds sound", () => {
    const marks: ((s: ConditionedStatus, stamp: Stamp) => ConditionedStatus)[] = [
      (s, stamp) => markReady(s, stamp, REASON.succeeded, "ok"),
      (s, stamp) => markFailed(s, stamp, REASON.failed, "retrying"),
      (s, stamp) => markFailed(s, stamp, REASON.invalidSpec, "fix the spec", { stalled: true }),
      (s, stamp) => markProgressing(s, stamp, "rolling out"),
    ];
    for (const a of marks)
      for (const b of marks)
        for (const c of marks) {
          const status = c(b(a(fresh, at(1, 1)), at(1, 2)), at(2, 3));
          expect(statusViolations(status, 2)).toEqual([]);
        }
  });
});

describe("statusViolations (Flux's condition invariants)", () => {
  const ready = (status: Condition["status"]) => condition(CONDITION.ready, status);
  const cases: [string, ConditionedStatus | undefined, number, string[]][] = [
    ["no status yet", undefined, 1, []],
    ["conditions without Ready", { conditions: [condition(CONDITION.healthy, "True")] }, 1, ["Ready is not"]],
    [
      "Ready and Stalled both True",
      { observedGeneration: 1, conditions: [ready("True"), condition(CONDITION.stalled, "True")] },
      1,
      ["Stalled is True but Ready is True"],
    ],
    [
      "Stalled beside Ready=Unknown",
      { conditions: [ready("Unknown"), condition(CONDITION.stalled, "True")] },
      1,
      ["Stalled is True but Ready is Unknown"],
    ],
    [
      "Stalled and Reconciling both True",
      { conditions: [ready("False"), condition(CONDITION.stalled, "True"), condition(CONDITION.reconciling, "True")] },
      1,
      ["Stalled and Reconciling are both True"],
    ],
    [
      "Ready=True without observedGeneration",
      { conditions: [ready("True")] },
      1,
      ["observedGeneration undefined is not generation 1"],
    ],
    [
      "Ready=True for an older generation",
      { observedGeneration: 1, conditions: [ready("True")] },
      2,
      ["observedGeneration 1 is not generation 2"],
    ],
    [
      "Ready=True while Reconciling",
      { observedGeneration: 1, conditions: [ready("True"), condition(CONDITION.reconciling, "True")] },
      1,
      ["Ready is True beside Reconciling=True"],
    ],
    [
      "Ready=True beside a failed fetch (negative polarity)",
      { observedGeneration: 1, conditions: [ready("True"), condition(CONDITION.fetchFailed, "True")] },
      1,
      ["Ready is True beside FetchFailed=True"],
    ],
    [
      "observedGeneration newer than the object",
      { observedGeneration: 3, conditions: [ready("False")] },
      2,
      ["observedGeneration 3 is newer than generation 2"],
    ],
    [
      "a condition from a newer generation",
      { conditions: [condition(CONDITION.ready, "False", 3)] },
      2,
      ["condition Ready is for generation 3, newer than 2"],
    ],
    ["a condition type twice", { conditions: [ready("False"), ready("False")] }, 1, ["condition Ready appears twice"]],
    [
      "a sound stalled status",
      { observedGeneration: 1, conditions: [ready("False"), condition(CONDITION.stalled, "True")] },
      1,
      [],
    ],
    [
      "Ready=False beside a failed fetch",
      { observedGeneration: 1, conditions: [ready("False"), condition(CONDITION.fetchFailed, "True")] },
      1,
      [],
    ],
  ];
  it.each(cases)("%s", (_name, status, generation, expected) => {
    const violations = statusViolations(status, generation);
    expect(violations).toHaveLength(expected.length);
    expected.forEach((fragment, i) => expect(violations[i]).toContain(fragment));
  });
});
