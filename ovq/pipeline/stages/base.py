"""The Stage protocol: what every pipeline adapter declares and returns.

An adapter names its config model (the kind is that model's `stage:` literal, so kinds are spelled once, in
ovq/config/stages.py), says what its result depends on (`cache_key_parts`), and runs: it reads the previous
artifacts from the context, calls an engine, saves its artifacts through the context and returns a typed
StageResult. The runner owns everything else: the stage folder, the cache, the report record.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel

from ovq.config.stages import stage_kind
from ovq.runtime.environment import machine_identity

if TYPE_CHECKING:
    from ovq.pipeline.context import RunContext

ConfigT = TypeVar("ConfigT", bound=BaseModel)


@dataclass
class StageResult:
    """What a stage tells the runner; replayed as-is from the stage cache."""

    details: dict[str, Any] = field(default_factory=dict)  # the report's stage record details
    variants_added: list[str] = field(default_factory=list)
    # None: the stage does not judge the budget; else whether its variant holds it as deployed.
    budget_met: bool | None = None
    # Competitors measured beside the variants (PyTorch eager, ONNX Runtime), in the report's variant shape.
    peers: list[dict[str, Any]] = field(default_factory=list)
    # The benchmark matrix (report.json's `matrix` section) when the stage measured one.
    matrix: dict[str, Any] | None = None

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> StageResult:
        return cls(
            details=record.get("details") or {},
            variants_added=list(record.get("variants_added") or []),
            budget_met=record.get("budget_met"),
            peers=list(record.get("peers") or []),
            matrix=record.get("matrix"),
        )


class StageAdapter(Generic[ConfigT]):
    """Base of every adapter: `config_model` and `run` are required, the cache key has a sound default."""

    config_model: ClassVar[type[BaseModel]]
    kind: ClassVar[str]
    # The stage's result depends on the accuracy budget and on how the pipeline deploys (accuracy control, QAT).
    uses_budget: ClassVar[bool] = False
    # The stage's result depends on the deployment's compile settings and the metrics (evaluate, benchmark).
    uses_deployment: ClassVar[bool] = False
    # The stage makes INT8 models: their weights depend on the overflow fix the weakest target class needs.
    quantizes: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "config_model" in cls.__dict__:
            cls.kind = stage_kind(cls.config_model)

    def cache_key_parts(self, ctx: RunContext, config: ConfigT) -> dict[str, Any]:
        """Everything the stage's result depends on besides the library versions and ovq's own code."""
        parts: dict[str, Any] = {
            "kind": self.kind,
            "config": config.model_dump(mode="json"),
            "variants": {name: [v.precision, ctx.ir_digest(v)] for name, v in ctx.variants.items()},
        }
        dataset = getattr(config, "dataset", None)
        if dataset is not None:
            parts["dataset"] = ctx.dataset_digest(dataset)
        if self.uses_deployment or (self.uses_budget and ctx.config.budget is not None):
            # Accuracy at the plugin's default precision and every timing depend on the CPU: a shared cache
            # (a cluster's OVQ_CACHE_DIR) must not replay another kind of machine's numbers here.
            parts["machine"] = machine_identity()
            parts["deployment"] = ctx.deployment.model_dump(mode="json") if ctx.deployment else None
            parts["metrics"] = {name: spec.model_dump(mode="json") for name, spec in ctx.config.metrics.items()}
        if self.quantizes:
            parts["overflow_fix"] = ctx.overflow_fix
        if self.uses_budget and ctx.config.budget is not None:
            parts["budget"] = ctx.config.budget.model_dump(mode="json")
            parts["budget_dataset"] = ctx.dataset_digest(ctx.config.budget.dataset)
        return parts

    def run(self, ctx: RunContext, config: ConfigT) -> StageResult:
        raise NotImplementedError
