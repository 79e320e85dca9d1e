"""What the stages of one run share: the config, the run folder, the variants, lazily loaded data."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

import ovq
from ovq.config.schema import CompileStage, PipelineConfig
from ovq.inputs.datasets import Item, check_fits, describe_dataset, dtype_mismatches, items_digest, load_dataset
from ovq.inputs.metrics import Metric, resolve_metric
from ovq.inputs.recipes import find_recipe, model_source_digest
from ovq.pipeline.cache import StageCache
from ovq.runtime.artifacts import ir_digest, ir_size_bytes
from ovq.runtime.compile import compile_config

if TYPE_CHECKING:
    import openvino as ov

    from ovq.compression.overflow import OverflowFixMode
    from ovq.runtime.compile import CompiledVariant


class Reporter(Protocol):
    """How a run tells a human what it is doing. The CLI renders it with rich; the library default is silent."""

    def stage_started(self, name: str) -> None: ...

    def stage_finished(self, record: dict[str, Any]) -> None: ...

    def note(self, message: str) -> None: ...

    def progress(
        self, description: str, total: float | None
    ) -> contextlib.AbstractContextManager[Callable[[float], None]]:
        """A context yielding update(completed) for a long step (calibration, evaluation, benchmarking)."""
        ...


class SilentReporter:
    def stage_started(self, name: str) -> None:
        pass

    def stage_finished(self, record: dict[str, Any]) -> None:
        pass

    def note(self, message: str) -> None:
        pass

    @contextlib.contextmanager
    def progress(self, description: str, total: float | None) -> Iterator[Callable[[float], None]]:
        yield lambda completed: None


@dataclass
class Variant:
    """One model the run produced (fp32, int8, ...), with what was measured on it."""

    name: str
    precision: str
    source: str | None
    model_path: Path
    compiled: CompiledVariant | None = None  # in memory only; recompiled on demand after a cache hit
    compile_info: dict[str, Any] | None = None
    # How this variant must be compiled beyond the compile stage's settings, e.g. its inference precision.
    compile_overrides: dict[str, Any] = field(default_factory=dict)
    accuracy: dict[str, dict[str, Any]] = field(default_factory=dict)
    benchmark: dict[str, Any] | None = None
    execution_precision: dict[str, Any] | None = None
    execution_compute: dict[str, Any] | None = None  # compute-heavy layers only (Convolution, MatMul, ...)
    outputs: dict[str, list[Any]] = field(default_factory=dict)  # dataset name -> first outputs, for reference metrics
    # "default_precision": the uncompressed model at the plugin's default inference precision (None: other).
    role: str | None = None
    profile: dict[str, Any] | None = None  # where the time goes (ovq.runtime.profile.summarize_profile)
    warnings: list[dict[str, Any]] = field(default_factory=list)  # ovq.benchmarking.verdict.variant_warnings

    # What a stage may change on a variant; the stage cache stores and replays exactly these.
    STATE_FIELDS = (
        "precision",
        "source",
        "model_path",
        "compile_info",
        "compile_overrides",
        "accuracy",
        "benchmark",
        "execution_precision",
        "execution_compute",
        "role",
        "profile",
        "warnings",
    )

    def state(self, run_dir: Path) -> dict[str, Any]:
        values = {name: getattr(self, name) for name in self.STATE_FIELDS}
        values["model_path"] = str(self.model_path.relative_to(run_dir))
        return values

    def apply_state(self, state: dict[str, Any], run_dir: Path) -> None:
        for name, value in state.items():
            setattr(self, name, run_dir / value if name == "model_path" else value)

    @property
    def size_bytes(self) -> int:
        return ir_size_bytes(self.model_path)

    def to_report(self, reference_size: int | None) -> dict[str, Any]:
        size = self.size_bytes
        primary = next(iter(self.accuracy.values()), None)
        precision = self.precision
        if (self.compile_info or {}).get("executes_int8") is False:
            # Named int8, runs none: never presented as INT8.
            precision = f"{self.compile_info.get('executed_precision') or 'float'} (0% int8 executed)"  # type: ignore[union-attr]
        return {
            "name": self.name,
            "precision": precision,
            "source": self.source,
            "model_path": str(self.model_path),
            "size_bytes": size,
            "size_ratio": round(size / reference_size, 4) if reference_size else None,
            "compile": self.compile_info,
            "accuracy": primary,
            "metrics": self.accuracy,
            "benchmark": self.benchmark,
            "execution_precision": self.execution_precision,
            "execution_compute": self.execution_compute,
            "role": self.role,
            "profile": self.profile,
            "warnings": self.warnings,
        }


@dataclass
class RunContext:
    config: PipelineConfig
    base_dir: Path
    run_dir: Path
    config_digest: str
    reporter: Reporter = field(default_factory=SilentReporter)
    variants: dict[str, Variant] = field(default_factory=dict)
    cache: StageCache | None = None
    # The stage being run: its folder is where add_variant saves (set by the runner).
    stage_index: int = 0
    stage_label: str = ""
    # How the pipeline deploys (its compile stage), computed once: accuracy control and QAT validate the model
    # compiled this way before the compile stage runs; evaluate and benchmark compile with it.
    deployment: CompileStage | None = field(init=False)
    deployment_properties: dict[str, Any] = field(init=False)
    # What went wrong without failing the run (e.g. the stage cache could not store an entry).
    warnings: list[str] = field(default_factory=list)
    _datasets: dict[str, list[Item]] = field(default_factory=dict)
    _metrics: dict[str, Metric] = field(default_factory=dict)
    _digests: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.deployment = next((s for s in self.config.stages if isinstance(s, CompileStage)), None)
        stage = self.deployment
        self.deployment_properties = (
            compile_config(
                hint=stage.hint,
                num_streams=stage.num_streams,
                num_threads=stage.num_threads,
                inference_precision=stage.inference_precision,
            )
            if stage is not None
            else {}
        )

    def recipe(self) -> ModuleType | None:
        name = self.config.model.recipe
        return find_recipe(name, base_dir=self.base_dir) if name else None

    def dataset(self, name: str, *, model: ov.Model | None = None) -> list[Item]:
        """The named dataset, loaded once; checked against the model's inputs when a model is given."""
        if name not in self._datasets:
            self._datasets[name] = load_dataset(
                self.config.datasets[name], base_dir=self.base_dir, default_recipe=self.config.model.recipe, name=name
            )
        items = self._datasets[name]
        if model is not None:
            check_fits(model, items, dataset_name=name)
            for message in dtype_mismatches(model, items, dataset_name=name):
                self.warn(message)
        return items

    def warn(self, message: str) -> None:
        """Tell the user once (console) and keep it for the report's warnings."""
        if message not in self.warnings:
            self.warnings.append(message)
            self.reporter.note(f"warning: {message}")

    def dataset_descriptions(self) -> dict[str, dict[str, Any]]:
        """What the report records about each dataset the run loaded (source, size, image preprocessing)."""
        return {name: describe_dataset(self.config.datasets[name], items) for name, items in self._datasets.items()}

    def metric(self, name: str) -> Metric:
        if name not in self._metrics:
            self._metrics[name] = resolve_metric(name, self.config.metrics[name], base_dir=self.base_dir)
        return self._metrics[name]

    def stage_dir(self, index: int, label: str) -> Path:
        return self.run_dir / "stages" / f"{index:02d}-{label.replace(':', '-')}"

    @property
    def stage_folder(self) -> Path:
        """The running stage's own folder (created, staged, only by what the stage saves)."""
        return self.stage_dir(self.stage_index, self.stage_label)

    def torch_module(self) -> Any:
        """A fresh torch module built by the pipeline's recipe or factory (export, QAT, PyTorch baseline)."""
        from ovq.inputs.recipes import load_model_source

        loaded = load_model_source(self.config.model, base_dir=self.base_dir)
        # The config checks that a torch model exists where one is needed (export of a module, QAT, peers).
        assert loaded.module is not None
        return loaded.module

    def compiled(self, variant: Variant) -> CompiledVariant:
        """The variant compiled with the pipeline's compile settings (compiled now if a cache hit skipped it)."""
        if variant.compiled is None:
            from ovq.pipeline.stages.compile import compile_variant

            assert self.deployment is not None  # the config guarantees a compile stage first
            variant.compiled = compile_variant(variant, self.deployment)
        return variant.compiled

    @property
    def overflow_fix(self) -> OverflowFixMode:
        """The INT8 overflow handling the weakest CPU class the run answers for needs (compile.targets)."""
        from ovq.compression.overflow import overflow_fix_for
        from ovq.runtime.cpu_class import NATIVE, active_class, cpu_class

        targets = list(self.deployment.targets) if self.deployment is not None else [NATIVE]
        return overflow_fix_for(active_class() if t == NATIVE else cpu_class(t) for t in targets)

    def reference_outputs(self, dataset: str) -> list[Any]:
        """The reference variant's outputs on a dataset, for metrics measured against it."""
        reference = self.reference
        if dataset not in reference.outputs:
            from ovq.runtime.infer import infer_outputs

            reference.outputs[dataset] = infer_outputs(self.compiled(reference).compiled, self.dataset(dataset))
        return reference.outputs[dataset]

    def dataset_digest(self, name: str) -> str:
        if name not in self._digests:
            self._digests[name] = items_digest(self.dataset(name))
        return self._digests[name]

    def source_digest(self) -> str:
        """What the export stage's result depends on: the model source's files."""
        return model_source_digest(self.config.model, self.base_dir)

    def ir_digest(self, variant: Variant) -> str:
        key = f"ir:{variant.model_path}"
        if key not in self._digests:
            self._digests[key] = ir_digest(variant.model_path)
        return self._digests[key]

    def add_variant(self, model: ov.Model, *, name: str, precision: str, source: str | None) -> Variant:
        """Save the running stage's model as its IR (staged, renamed into place when complete); register it."""
        from ovq.runtime.artifacts import save_ir, staged_dir

        final = self.stage_folder
        with staged_dir(final) as folder:
            path = save_ir(model, folder, provenance=self.provenance(self.stage_label))
        variant = self.variants[name] = Variant(
            name=name, precision=precision, source=source, model_path=final / path.name
        )
        return variant

    def provenance(self, stage: str) -> dict[str, str]:
        return {
            "version": ovq.__version__,
            "config_hash": self.config_digest,
            "pipeline": self.config.name,
            "stage": stage,
        }

    @property
    def reference(self) -> Variant:
        """The floating-point variant every other one is compared with (the export stage's)."""
        return next(iter(self.variants.values()))
