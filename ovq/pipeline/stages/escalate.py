"""Meet the budget with the cheapest method that works: plain PTQ -> accuracy-aware PTQ -> QAT.

Plain PTQ is tried first (seconds). Accuracy-aware PTQ comes next, but reverting operations to floating
point costs speed, so its result is accepted only if a paired speed check still shows the stated minimum
speed-up over true-f32 FP32. QAT is the last rung (minutes). Every rung tried is recorded in the stage's
details with its metrics, its speed and why the ladder went on or stopped; when no rung holds, the run
fails closed with the accuracy-budget exit code.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ovq.errors import AccuracyBudgetError

if TYPE_CHECKING:
    import openvino as ov

    from ovq.config.schema import EscalateStage
    from ovq.pipeline.context import RunContext


def run_stage(ctx: RunContext, stage: EscalateStage, index: int, label: str) -> dict[str, Any]:
    from ovq.compression.ptq import refuse_if_compressed
    from ovq.runtime.convert import read_model_file

    source = ctx.variants[stage.source]
    fp32 = read_model_file(source.model_path)
    refuse_if_compressed(fp32)
    ladder = _Ladder(ctx, stage, fp32)
    chosen: ov.Model | None = None
    for rung in stage.rungs:
        started = time.perf_counter()
        record: dict[str, Any] = {"rung": rung}
        try:
            model, extra = ladder.attempt(rung)
        except AccuracyBudgetError as exc:
            record.update(outcome="budget missed", reason=exc.message, details=exc.details)
            ladder.rungs.append({**record, "duration_s": round(time.perf_counter() - started, 3)})
            continue
        record.update(extra)
        scores = ladder.scores(model)
        checks = ladder.checks(scores)
        record["metrics"] = scores
        record["checks"] = [check.to_dict() for check in checks]
        if not all(check.met for check in checks):
            record["outcome"] = "budget missed"
            record["reason"] = "; ".join(check.describe() for check in checks if not check.met)
        elif rung == "accuracy_aware_ptq":
            speedup = ladder.speedup(model)
            record["speedup_vs_f32"] = speedup
            if speedup < stage.min_speedup:
                record["outcome"] = "too slow"
                record["reason"] = f"speed-up {speedup:.2f}x < min_speedup {stage.min_speedup:.2f}x after the reverts"
            else:
                record["outcome"] = "chosen"
        else:
            record["outcome"] = "chosen"
        record["duration_s"] = round(time.perf_counter() - started, 3)
        ladder.rungs.append(record)
        ctx.reporter.note(f"  {rung}: {record['outcome']}" + (f" ({record['reason']})" if "reason" in record else ""))
        if record["outcome"] == "chosen":
            chosen = model
            break
    details = {"variant": stage.name, "rungs": ladder.rungs, "chosen": ladder.rungs[-1]["rung"] if chosen else None}
    if chosen is None:
        error = AccuracyBudgetError(
            "no rung of the ladder meets the budget: "
            + "; ".join(f"{r['rung']}: {r['outcome']}" for r in ladder.rungs),
            hint="give QAT more epochs, loosen the budget, or lower min_speedup",
        )
        error.details = details
        raise error
    ctx.add_variant(chosen, index, label, name=stage.name, precision="int8", source=stage.source)
    return details


class _Ladder:
    """What the rungs share: the data, the deployed compile settings, the FP32 reference scores."""

    def __init__(self, ctx: RunContext, stage: EscalateStage, fp32: ov.Model) -> None:
        from ovq.pipeline.stages.compile import deployment_config

        budget = ctx.config.budget
        assert budget is not None  # the config requires one
        self.ctx, self.stage, self.fp32, self.budget = ctx, stage, fp32, budget
        self.deploy = deployment_config(ctx)
        self.calibration = ctx.dataset(stage.dataset, model=fp32)
        self.validation = ctx.dataset(budget.dataset, model=fp32)
        self.rungs: list[dict[str, Any]] = []
        self.reference_outputs = self._outputs(fp32, {"INFERENCE_PRECISION_HINT": "f32"})
        self.reference_scores = self._score(self.reference_outputs)

    def _outputs(self, model: ov.Model, config: dict[str, Any]) -> list[Any]:
        from ovq.runtime.compile import compile_for
        from ovq.runtime.infer import infer_outputs

        return infer_outputs(compile_for(model, config), self.validation)

    def _score(self, outputs: list[Any]) -> dict[str, float]:
        from ovq.benchmarking.accuracy import score

        return {
            name: score(outputs, self.validation, self.ctx.metric(name), reference_outputs=self.reference_outputs)
            for name in self.budget.metrics
        }

    def scores(self, model: ov.Model) -> dict[str, float]:
        """The budget's metrics on the model compiled as it will be deployed."""
        return self._score(self._outputs(model, self.deploy))

    def checks(self, scores: dict[str, float]) -> list[Any]:
        from ovq.compression.budget import Budget, check_budget

        return [
            check_budget(
                Budget(self.ctx.metric(name), limit.max_drop, limit.drop_type),
                self.reference_scores[name],
                scores[name],
            )
            for name, limit in self.budget.metrics.items()
        ]

    def speedup(self, model: ov.Model) -> float:
        """Paired (interleaved) throughput of the candidate as deployed over true-f32 FP32."""
        from ovq.benchmarking.engine import benchmark_interleaved, speedup_table
        from ovq.runtime.compile import compile_for

        compiled = {
            "fp32": compile_for(self.fp32, {**self.deploy, "INFERENCE_PRECISION_HINT": "f32"}),
            "candidate": compile_for(model, self.deploy),
        }
        with self.ctx.reporter.progress("paired speed check of the accuracy-aware model", 1.0) as update:
            results = benchmark_interleaved(
                compiled, repeats=self.stage.speed_check_repeats, duration_s=self.stage.speed_check_s, progress=update
            )
        return float(speedup_table(results, "fp32")["candidate"])

    def attempt(self, rung: str) -> tuple[ov.Model, dict[str, Any]]:
        stage = self.stage
        scope = stage.ignored_scope
        from ovq.compression.ptq import make_ignored_scope

        ignored = make_ignored_scope(scope.names, scope.patterns, scope.types) if scope else None
        if rung == "ptq":
            from ovq.compression.ptq import quantize

            with self.ctx.reporter.progress("rung 1: plain INT8 PTQ", None):
                model = quantize(
                    self.fp32,
                    self.calibration,
                    subset_size=stage.subset_size,
                    preset=stage.preset,
                    model_type=stage.model_type,
                    ignored_scope=ignored,
                )
            return model, {}
        if rung == "accuracy_aware_ptq":
            from ovq.pipeline.stages.quantize import accuracy_aware_quantize

            model, story = accuracy_aware_quantize(
                self.ctx,
                self.fp32,
                self.calibration,
                stage.accuracy_control,
                variant=stage.name,
                subset_size=stage.subset_size,
                preset=stage.preset,
                model_type=stage.model_type,
                ignored_scope=ignored,
                reference_outputs=self.reference_outputs,
            )
            return model, {"reverted_operations": story["accuracy_control"]["reverted_operations"]}
        from ovq.pipeline.stages.qat import train_to_ir

        assert stage.qat is not None  # checked when the config loads
        model, story = train_to_ir(self.ctx, stage.qat, "escalate-qat")
        return model, {"epochs_run": story.get("epochs_run"), "history": story.get("history")}
