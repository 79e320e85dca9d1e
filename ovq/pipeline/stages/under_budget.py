"""What the stages that work under the accuracy budget share (quantize, qat, escalate).

Each function maps the run's context (its budget, data, metrics and how the pipeline deploys) onto the
engines in ovq.compression; the budget is always judged on the model compiled as it will be deployed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import openvino as ov

    from ovq.benchmarking.protocol import SpeedComparison
    from ovq.compression.qat.train import QatProgress
    from ovq.config.schema import AccuracyControlSpec, EscalateStage, QatOptions
    from ovq.pipeline.context import RunContext


def accuracy_aware_quantize(
    ctx: RunContext,
    model: ov.Model,
    items: Sequence[Any],
    control: AccuracyControlSpec | None,
    *,
    variant: str,
    subset_size: int,
    preset: str | None,
    model_type: str | None,
    fast_bias_correction: bool = True,
    ignored_scope: Any = None,
    weights_granularity: str | None = None,
    reference_outputs: Sequence[Any] | None = None,
) -> tuple[ov.Model, dict[str, Any]]:
    """NNCF accuracy control under the pipeline's budget, validated as deployed.

    Returns the model and its story (``story["met"]`` says whether the budget held as deployed). Shared by
    the quantize stage and the escalation ladder's second rung.
    """
    from ovq.compression.accuracy_control import Budget, BudgetNotMetError, quantize_with_budget
    from ovq.compression.ptq import with_weights_granularity
    from ovq.config.schema import AccuracyControlSpec

    budget = ctx.config.budget
    assert budget is not None
    control = control or AccuracyControlSpec()
    budgets = [Budget(ctx.metric(name), limit.max_drop, limit.drop_type) for name, limit in budget.metrics.items()]
    # The budget is a promise about the deployed model: validate it compiled the way the pipeline deploys it.
    deploy = ctx.deployment_properties
    validation = ctx.dataset(budget.dataset, model=model)
    with ctx.reporter.progress(f"quantizing {variant} under the accuracy budget (NNCF accuracy control)", None):
        try:
            result = quantize_with_budget(
                model,
                items,
                validation,
                budgets,
                deploy_properties=deploy,
                validate_at=control.validate_at,
                reference_outputs=reference_outputs,
                subset_size=subset_size,
                preset=preset,
                model_type=model_type,
                fast_bias_correction=fast_bias_correction,
                ignored_scope=ignored_scope,
                ranking_subset_size=control.ranking_subset_size,
                max_num_iterations=control.max_iterations,
                tune_hyperparams=control.tune_hyperparams,
                restore_mode=control.restore_mode,
                ranking_order=control.ranking_order,
                advanced_quantization_parameters=(
                    with_weights_granularity(None, weights_granularity) if weights_granularity else None
                ),
                overflow_fix=ctx.overflow_fix,
            )
        except BudgetNotMetError as exc:
            if not exc.result.validation_calls:
                # FP32 itself misses the budget at the deployment's precision: nothing was quantized, there
                # is no INT8 variant to keep. Fail closed now, with the story.
                exc.details = {"variant": variant, "accuracy_control": exc.result.to_dict()}
                raise
            # The variant misses the budget. It is kept, with its story, so the report shows what was tried
            # and by how much it missed; the budget gate never makes it the deliverable, and the run fails
            # closed (exit 4) unless another variant holds.
            ctx.reporter.note(f"  {variant}: {exc.message}")
            return exc.result.model, exc.result.to_dict()
    return result.model, result.to_dict()


def qat_cache_key_parts(ctx: RunContext, stage: QatOptions) -> dict[str, Any]:
    """What train_to_ir's result depends on beyond the stage config: the torch model and both its datasets."""
    return {
        "source": ctx.source_digest(),  # QAT starts again from the torch model
        "train": ctx.dataset_digest(stage.train_dataset),
        "calibration": ctx.dataset_digest(stage.calibration_dataset),
    }


def train_to_ir(ctx: RunContext, stage: QatOptions, label: str) -> tuple[ov.Model, dict[str, Any]]:
    """Rebuild the torch model, fine-tune it with quantization simulated until the budget's first metric
    holds (as deployed), and return the exported INT8 IR with the training story. Fails closed (exit 4)."""
    from ovq.compression.qat.train import train_qat
    from ovq.inputs.user_code import load_callable

    budget = ctx.config.budget
    assert budget is not None  # the config requires one
    metric_name, limit = next(iter(budget.metrics.items()))
    metric = ctx.metric(metric_name)
    source = ctx.config.model
    module = ctx.torch_module()
    if source.recipe:
        recipe = ctx.recipe()
        assert recipe is not None
        example_input = recipe.example_input()
    else:
        example_input = ctx.dataset(stage.calibration_dataset)[0][0]
    from ovq.compression.qat.torch_glue import LOSSES

    loss: Any = stage.loss if stage.loss in LOSSES else load_callable(stage.loss, base_dir=ctx.base_dir)
    train_fn = load_callable(stage.train_fn, base_dir=ctx.base_dir) if stage.train_fn else None
    scope = stage.ignored_scope
    with contextlib.ExitStack() as bars:
        result = train_qat(
            module,
            train_data=ctx.dataset(stage.train_dataset),
            validation_data=ctx.dataset(budget.dataset),
            calibration_data=ctx.dataset(stage.calibration_dataset),
            max_drop=limit.max_drop,
            metric=metric.fn,
            higher_is_better=metric.higher_is_better,
            relative_drop=limit.drop_type == "relative",
            example_input=example_input,
            epochs=stage.epochs,
            max_steps=stage.max_steps,
            batch_size=stage.batch_size,
            optimizer=stage.optimizer,
            learning_rate=stage.learning_rate,
            weight_decay=stage.weight_decay,
            loss=loss,
            train_fn=train_fn,
            evaluate_with=stage.evaluate_with,
            compile_config=ctx.deployment_properties,
            subset_size=stage.subset_size,
            preset=stage.preset,
            model_type=stage.model_type,
            ignored_scope=scope.model_dump() if scope else None,
            # Checkpoints beside the run: rerunning into the same folder resumes a killed fine-tune.
            checkpoint_dir=ctx.run_dir / "checkpoints" / label,
            resume=True,
            seed=stage.seed,
            torch_threads=stage.torch_threads,
            teacher=stage.teacher,
            freeze=stage.freeze,
            progress=_progress_to(ctx, bars, metric_name),
            notify=ctx.reporter.note,
            # Half-range weights when any target lacks VNNI: the exported IR must score the same there.
            overflow_fix=ctx.overflow_fix,
        )
    assert result.model is not None
    return result.model, result.to_dict()


def _progress_to(ctx: RunContext, bars: contextlib.ExitStack, metric_name: str) -> Callable[[QatProgress], None]:
    """One bar per epoch (steps, current loss) and one line per evaluation."""
    state: dict[str, Any] = {"epoch": None, "update": None}

    def on_event(event: QatProgress) -> None:
        if event.phase == "evaluate":
            bars.close()
            state["epoch"] = None
            loss = f", loss {event.loss:.4f}" if event.loss is not None else ""
            ctx.reporter.note(f"  epoch {event.epoch}/{event.epochs}: {metric_name} {event.metric:.4f}{loss}")
        elif event.phase == "train":
            if state["epoch"] != event.epoch:
                state["epoch"] = event.epoch
                state["update"] = bars.enter_context(
                    ctx.reporter.progress(f"QAT epoch {event.epoch}/{event.epochs}", event.steps_per_epoch)
                )
            state["update"](event.step)

    return on_event


class Ladder:
    """What the rungs share: the data, the deployed compile settings, the FP32 reference scores."""

    def __init__(self, ctx: RunContext, stage: EscalateStage, fp32: ov.Model) -> None:
        budget = ctx.config.budget
        assert budget is not None  # the config requires one
        self.ctx, self.stage, self.fp32, self.budget = ctx, stage, fp32, budget
        self.deploy = ctx.deployment_properties
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

    def speedup(self, model: ov.Model) -> SpeedComparison:
        """Paired (interleaved) throughput of the candidate as deployed over true-f32 FP32, with its interval.

        Rounds are added (up to half the planned time again) while the ratio is not told apart from
        ``min_speedup``: the question this check answers.
        """
        from ovq.benchmarking.engine import benchmark_interleaved
        from ovq.benchmarking.protocol import Extension, compare_runs
        from ovq.runtime.compile import compile_for

        compiled = {
            "fp32": compile_for(self.fp32, {**self.deploy, "INFERENCE_PRECISION_HINT": "f32"}),
            "candidate": compile_for(model, self.deploy),
        }
        repeats, seconds = self.stage.speed_check_repeats, self.stage.speed_check_s
        extension = Extension(max_repeats=max(2 * repeats, 10), time_cap_s=repeats * 2 * seconds * 0.5)
        with self.ctx.reporter.progress("paired speed check of the accuracy-aware model", 1.0) as update:
            results = benchmark_interleaved(
                compiled, repeats=repeats, duration_s=seconds, progress=update, extension=extension
            )
        return compare_runs(
            results["candidate"].throughput_fps_runs, results["fp32"].throughput_fps_runs, versus="fp32"
        )

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
                    overflow_fix=self.ctx.overflow_fix,
                )
            return model, {}
        if rung == "accuracy_aware_ptq":
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
        assert stage.qat is not None  # checked when the config loads
        model, story = train_to_ir(self.ctx, stage.qat, "escalate-qat")
        return model, {"epochs_run": story.get("epochs_run"), "history": story.get("history")}
