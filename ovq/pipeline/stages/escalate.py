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

from ovq.config.stages import EscalateStage
from ovq.errors import AccuracyBudgetError
from ovq.pipeline.stages.base import StageAdapter, StageResult
from ovq.pipeline.stages.under_budget import Ladder, qat_cache_key_parts

if TYPE_CHECKING:
    import openvino as ov

    from ovq.pipeline.context import RunContext


class Escalate(StageAdapter[EscalateStage]):
    config_model = EscalateStage
    uses_budget = True
    quantizes = True

    def cache_key_parts(self, ctx: RunContext, config: EscalateStage) -> dict[str, Any]:
        parts = super().cache_key_parts(ctx, config)
        if config.qat is not None and "qat" in config.rungs:
            parts.update(qat_cache_key_parts(ctx, config.qat))
        return parts

    def run(self, ctx: RunContext, config: EscalateStage) -> StageResult:
        return climb(ctx, config)


def climb(ctx: RunContext, stage: EscalateStage) -> StageResult:
    from ovq.compression.ptq import refuse_if_compressed
    from ovq.runtime.convert import read_model_file

    source = ctx.variants[stage.source]
    fp32 = read_model_file(source.model_path)
    refuse_if_compressed(fp32)
    ladder = Ladder(ctx, stage, fp32)
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
            comparison = ladder.speedup(model)
            record["speedup_vs_f32"] = comparison.ratio
            record["speed_check"] = comparison.to_dict()
            # Too slow only when the interval proves it: a ratio the machine's noise cannot tell from
            # min_speedup is not a reason to climb to the (costly) next rung.
            if comparison.high < stage.min_speedup:
                record["outcome"] = "too slow"
                below = f"lies below min_speedup {stage.min_speedup:.2f}x after the reverts"
                record["reason"] = f"speed-up {comparison.describe()} {below}"
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
    ctx.add_variant(chosen, name=stage.name, precision="int8", source=stage.source)
    return StageResult(details=details, variants_added=[stage.name], budget_met=True)
