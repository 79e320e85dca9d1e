"""Pipeline adapter of quantization-aware training (engine: ovq.compression.qat.functions and .train)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import openvino as ov

    from ovq.compression.qat.train import QatProgress
    from ovq.config.schema import QatOptions, QatStage
    from ovq.pipeline.context import RunContext


def run_stage(ctx: RunContext, stage: QatStage, index: int, label: str) -> dict[str, Any]:

    model, details = train_to_ir(ctx, stage, label)
    ctx.add_variant(model, index, label, name=stage.name, precision="int8", source=stage.source)
    return {"variant": stage.name, "qat": details}


def train_to_ir(ctx: RunContext, stage: QatOptions, label: str) -> tuple[ov.Model, dict[str, Any]]:
    """Rebuild the torch model, fine-tune it with quantization simulated until the budget's first metric
    holds (as deployed), and return the exported INT8 IR with the training story. Fails closed (exit 4)."""
    from ovq.compression.qat.train import train_qat
    from ovq.inputs.user_code import load_callable
    from ovq.pipeline.stages.compile import deployment_config

    budget = ctx.config.budget
    assert budget is not None  # the config requires one
    metric_name, limit = next(iter(budget.metrics.items()))
    metric = ctx.metric(metric_name)
    source = ctx.config.model
    if source.recipe:
        recipe = ctx.recipe()
        assert recipe is not None
        module, example_input = recipe.build(), recipe.example_input()
    else:
        assert source.factory is not None
        module = load_callable(source.factory, base_dir=ctx.base_dir)()
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
            compile_config=deployment_config(ctx),
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
