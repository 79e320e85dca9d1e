"""Quantization-aware training for existing PyTorch training code.

Four calls fit around a training loop that stays as it is:

    qat_model = prepare_qat(model, calibration_items)        # NNCF inserts trainable fake-quantizers
    ...the user's own loop trains qat_model...
    save_qat_checkpoint(qat_model, "ckpt.pt", optimizer=opt)  # resumable; load_qat_checkpoint restores
    ov_model = export_qat(qat_model, example_input, "model_int8.xml")  # IR that runs INT8 kernels

Traps of this NNCF/torch combination that these functions handle for the user:

- NNCF builds a C++ extension on its first PyTorch quantization call (27-40 s measured on 2 cores,
  more on a busy machine), under a 60 s timeout. ensure_nncf_extension() builds it without that timeout and says once,
  through `notify`, why this call is slow.
- torch.export of an NNCF-quantized module fails (data-dependent guards inside the quantizers);
  export_qat traces the module instead (or goes through ONNX), which OpenVINO turns into FakeQuantize
  ops and INT8 kernels.
- nncf.strip imports the undeclared `torchao` package. It only exists to turn NNCF quantizers into
  torch-native ones; OpenVINO reads NNCF's quantizers directly, so nothing here calls it.
- NNCF adds its quantizers as a child module, which a top-level nn.Sequential would call as a layer;
  prepare_qat swaps such a model to a Sequential that skips it (indexing and state_dict keys unchanged).
- NNCF's documented checkpoint recipe (state_dict + nncf.torch.get_config) holds an enum that
  torch.load refuses by default since torch 2.6 (weights_only); the checkpoint here stores it as text.
"""

from __future__ import annotations

import enum
import importlib
import logging
import re
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from ovq.compression.overflow import OverflowFixMode, overflow_fix_for, with_overflow_fix
from ovq.errors import (
    ConfigError,
    DataMismatchError,
    InputFileError,
    ModelFormatError,
    StageError,
)
from ovq.runtime.artifacts import atomic_path, save_ir_atomic
from ovq.runtime.ov_errors import conversion_error

if TYPE_CHECKING:
    import openvino as ov
    import torch
    from nncf import IgnoredScope

MessageHook = Callable[[str], None]

logger = logging.getLogger("ovq.compression.qat.functions")

CHECKPOINT_FORMAT = "ovq-qat-checkpoint"
CHECKPOINT_VERSION = 1

# Set once the extension is known to be built in this process, so the check runs once.
_extension_ready = False


def _default_notify(message: str) -> None:
    # WARNING so that a plain script (no logging configured) shows it: Python's last-resort handler
    # prints warnings to stderr. The CLI passes its own notify to show it in the console instead.
    logger.warning(message)


def ensure_nncf_extension(notify: MessageHook | None = None) -> float:
    """Build NNCF's PyTorch quantization extension if it is not built yet; return the seconds it took.

    The build happens once per machine (it is cached under ~/.cache/torch_extensions) and takes 30-40 s
    on 2 cores. When it is needed, `notify` (default: a warning on this module's logger) hears why the call is slow
    before it starts. NNCF's own lazy build runs under a 60 s timeout that a busy machine
    can exceed; building here first has no timeout. If no compiler is available, NNCF falls back to
    slower pure-torch kernels and says so.
    """
    global _extension_ready
    if _extension_ready:
        return 0.0
    import nncf.torch
    import torch

    from ovq.compression._nncf.torch_hooks import cpu_extension_location

    build_dir, name = cpu_extension_location()
    if any(build_dir.glob(f"{name}*.so")) or any(build_dir.glob(f"{name}*.pyd")):
        _extension_ready = True
        return 0.0
    (notify or _default_notify)(
        f"compiling NNCF's C++ quantization kernels for torch {torch.__version__}: first use on this machine"
        f" only, about 30-60 s; cached in {build_dir}"
    )
    started = time.perf_counter()
    nncf.torch.force_build_cpu_extensions()
    _extension_ready = True
    return time.perf_counter() - started


def _ignored_scope(ignored_scope: IgnoredScope | Mapping[str, list[str]] | None) -> IgnoredScope | None:
    import nncf

    if ignored_scope is None or isinstance(ignored_scope, nncf.IgnoredScope):
        return ignored_scope
    allowed = {"names", "patterns", "types"}
    unknown = sorted(set(ignored_scope) - allowed)
    if unknown:
        raise ConfigError(f"ignored_scope has unknown keys {unknown}", hint=f"allowed: {', '.join(sorted(allowed))}")
    return nncf.IgnoredScope(**{key: list(value) for key, value in ignored_scope.items()})


def prepare_qat(
    module: torch.nn.Module,
    calibration_data: Iterable[Any],
    *,
    subset_size: int = 300,
    preset: Literal["performance", "mixed"] | None = None,
    ignored_scope: IgnoredScope | Mapping[str, list[str]] | None = None,
    model_type: Literal["transformer"] | None = None,
    transform: Callable[[Any], Any] | None = None,
    notify: MessageHook | None = None,
    overflow_fix: OverflowFixMode | None = None,
) -> torch.nn.Module:
    """Return a copy of `module` with NNCF's trainable INT8 fake-quantizers, initialised on calibration data.

    The result is an ordinary nn.Module in train mode: the user's training loop, optimizer and loss run
    on it unchanged (build the optimizer from its parameters: the quantizer scales train too).
    `module` itself is left untouched.

    calibration_data items follow ovq's dataset convention: (inputs, target) pairs or bare inputs, where
    inputs is an array/tensor shaped like the model input (batch dimension included), a tuple of them
    for several inputs, or a dict by argument name. `transform` maps an item to model inputs instead.
    `overflow_fix` (default: what this process's CPU class needs) puts weights at half range where the
    class lacks VNNI, so the trained fake-quantizers simulate the INT8 arithmetic the CPU really runs.

    >>> qat_model = prepare_qat(model, [(image, label) for image, label in calibration], subset_size=300)
    >>> optimizer = torch.optim.Adam(qat_model.parameters(), lr=1e-4)  # then train as usual
    """
    import copy

    import nncf

    from ovq.compression.qat.torch_glue import make_hookable, model_inputs, quantizer_count, to_torch

    if quantizer_count(module):
        raise ConfigError(
            "the module already carries NNCF quantizers",
            hint="pass the FP32 module to prepare_qat, or train the prepared module directly",
        )
    items = list(calibration_data)
    if not items:
        raise DataMismatchError("the calibration dataset is empty", hint="give at least one calibration item")
    ensure_nncf_extension(notify)
    convert = transform or model_inputs
    source = make_hookable(copy.deepcopy(module))
    try:
        prepared = nncf.quantize(
            source,
            nncf.Dataset(items, lambda item: to_torch(convert(item))),
            subset_size=min(subset_size, len(items)),
            preset=nncf.QuantizationPreset(preset) if preset else None,
            model_type=nncf.ModelType(model_type) if model_type else None,
            ignored_scope=_ignored_scope(ignored_scope),
            advanced_parameters=with_overflow_fix(None, overflow_fix or overflow_fix_for()),
        )
    except nncf.ValidationError as exc:
        # NNCF raises this for an ignored-scope entry that matches nothing: a config error, not a crash.
        raise ConfigError(f"NNCF refused the quantization settings: {_last_line(exc)}") from exc
    except (RuntimeError, TypeError, ValueError) as exc:
        shapes = _describe(to_torch(convert(items[0])))
        raise DataMismatchError(
            f"the model could not run a calibration item with inputs {shapes}: {_last_line(exc)}"
        ) from exc
    if not quantizer_count(prepared):
        raise StageError("NNCF inserted no quantizers: the model has no operation it can quantize")
    prepared.train()
    return cast("torch.nn.Module", prepared)


def _last_line(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return lines[-1] if lines else type(exc).__name__


def _describe(inputs: Any) -> str:
    if isinstance(inputs, dict):
        return "{" + ", ".join(f"{k}: {_describe(v)}" for k, v in inputs.items()) + "}"
    if isinstance(inputs, tuple):
        return "(" + ", ".join(_describe(v) for v in inputs) + ")"
    return f"{list(getattr(inputs, 'shape', []))} {getattr(inputs, 'dtype', type(inputs).__name__)}"


def export_qat(
    module: torch.nn.Module,
    example_input: Any,
    path: str | Path | None = None,
    *,
    method: Literal["trace", "onnx"] = "trace",
    static_shapes: bool = True,
) -> ov.Model:
    """Export a QAT module (from prepare_qat, trained) to an OpenVINO model with INT8 quantization ops.

    OpenVINO turns NNCF's quantizers into FakeQuantize operations and stores the weights as INT8, so the
    CPU plugin runs INT8 kernels. method="trace" (default) traces the module with example_input;
    "onnx" goes through torch's TorchScript-based ONNX exporter. torch.export is not used: it fails on
    NNCF's quantizers. With static_shapes, input shapes are fixed to example_input's (INT8 models with
    dynamic shapes may not compile at this CPU's default precision). With a path, the IR (.xml + .bin,
    FP32 scales, INT8 weights) is written atomically. The module's train/eval mode is restored.

    >>> ov_model = export_qat(qat_model, np.zeros((1, 1, 8, 8), np.float32), "digits_int8.xml")
    """
    import openvino as ov
    import torch

    from ovq.compression.qat.torch_glue import quantizer_count, to_torch

    if not quantizer_count(module):
        raise ConfigError(
            "the module carries no NNCF quantizers, so its export would not be INT8",
            hint="prepare it with ovq.prepare_qat (or load it with ovq.load_qat_checkpoint) first",
        )
    example = to_torch(example_input)
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # Tracing NNCF quantizers warns about .item() on constant levels and re-checks the trace;
            # both are expected here and only bury real messages.
            warnings.simplefilter("ignore", category=torch.jit.TracerWarning)  # type: ignore[attr-defined]
            if method == "trace":
                model = ov.convert_model(module, example_input=example)
            else:
                model = _convert_via_onnx(module, example)
    except Exception as exc:
        raise conversion_error(exc, f"the QAT module ({method})") from exc
    finally:
        module.train(was_training)
    if static_shapes:
        _fix_shapes(model, example)
    if not any(op.get_type_name() == "FakeQuantize" for op in model.get_ordered_ops()):
        raise StageError("the exported model has no FakeQuantize operations: it would not run INT8 kernels")
    if path is not None:
        if Path(path).suffix != ".xml":
            raise ConfigError(f"an IR path must end in .xml, got {Path(path).name!r}")
        save_ir_atomic(model, path, compress_to_fp16=False)  # FP32 scales kept, no FP16 compression
    return model


def _convert_via_onnx(module: torch.nn.Module, example: Any) -> ov.Model:
    import openvino as ov
    import torch

    args = example if isinstance(example, tuple) else (example,)
    with tempfile.TemporaryDirectory(prefix="ovq-qat-onnx-") as folder:
        onnx_path = Path(folder) / "model.onnx"
        # dynamo=False: the dynamo exporter is built on torch.export, which fails on NNCF quantizers, so the
        # TorchScript exporter is the only one that exports them; its deprecation notice is known and
        # silenced for this call only (method="trace", the default, does not depend on it).
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", "You are using the legacy TorchScript-based ONNX export", DeprecationWarning
            )
            torch.onnx.export(module, args, str(onnx_path), dynamo=False)
        # The ONNX frontend reads an embedded-weights file into memory, so the folder may go.
        return ov.convert_model(str(onnx_path))


def _fix_shapes(model: ov.Model, example: Any) -> None:
    import openvino as ov

    if isinstance(example, dict):
        shapes = {name: list(value.shape) for name, value in example.items()}
        model.reshape({name: ov.PartialShape(shape) for name, shape in shapes.items()})
        return
    tensors = example if isinstance(example, tuple) else (example,)
    model.reshape({port: ov.PartialShape(list(t.shape)) for port, t in zip(model.inputs, tensors, strict=False)})


# ---------------------------------------------------------------------------------------------- checkpoints


@dataclass
class QatCheckpoint:
    """What load_qat_checkpoint restores: the QAT module, plus the optimizer state and extra data saved."""

    module: torch.nn.Module
    optimizer_state: dict[str, Any] | None
    extra: dict[str, Any] = field(default_factory=dict)

    def restore_optimizer(self, optimizer: torch.optim.Optimizer) -> None:
        """Load the saved optimizer state into an optimizer built on this checkpoint's module."""
        if self.optimizer_state is None:
            raise ConfigError("the checkpoint holds no optimizer state", hint="save it with optimizer=...")
        optimizer.load_state_dict(self.optimizer_state)


def _encode_enums(value: Any) -> Any:
    # torch.load(weights_only=True), the default since torch 2.6, refuses arbitrary classes; NNCF's config
    # holds enums (QuantizationScheme), so they are stored as tagged text and rebuilt on load.
    if isinstance(value, enum.Enum):
        cls = type(value)
        return {"__enum__": f"{cls.__module__}:{cls.__qualname__}", "value": value.value}
    if isinstance(value, dict):
        return {key: _encode_enums(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_encode_enums(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_encode_enums(item) for item in value)
    return value


def _decode_enums(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__enum__", "value"}:
            module_name, _, qualname = str(value["__enum__"]).partition(":")
            if not module_name.startswith("nncf."):
                raise ModelFormatError(f"the checkpoint names a class outside NNCF: {value['__enum__']}")
            owner: Any = importlib.import_module(module_name)
            for part in qualname.split("."):
                owner = getattr(owner, part)
            return owner(value["value"])
        return {key: _decode_enums(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decode_enums(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_decode_enums(item) for item in value)
    return value


def save_qat_checkpoint(
    module: torch.nn.Module,
    path: str | Path,
    *,
    optimizer: torch.optim.Optimizer | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Save a QAT module (weights, quantizer scales and their placement) and optionally its optimizer.

    This is NNCF's recommended pair, the state_dict plus nncf.torch.get_config(module), in one file that
    torch.load's safe default (weights_only) accepts. `extra` (epoch, metrics...) must hold plain Python
    values and tensors. The file is written atomically.

    >>> save_qat_checkpoint(qat_model, "ckpt.pt", optimizer=optimizer, extra={"epoch": 3})
    """
    import nncf
    import torch
    from nncf.torch import get_config

    from ovq.compression.qat.torch_glue import quantizer_count

    if not quantizer_count(module):
        raise ConfigError("the module carries no NNCF quantizers", hint="save the module prepare_qat returned")
    payload = {
        "format": CHECKPOINT_FORMAT,
        "version": CHECKPOINT_VERSION,
        # str(): torch.__version__ is a TorchVersion object, which weights_only loading refuses.
        "nncf_version": str(nncf.__version__),
        "torch_version": str(torch.__version__),
        "nncf_config": _encode_enums(get_config(module)),
        "state_dict": module.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "extra": dict(extra or {}),
    }
    target = Path(path)
    with atomic_path(target, suffix=".pt") as staged:
        torch.save(payload, staged)
    return target


def load_qat_checkpoint(
    path: str | Path, module_factory: Callable[[], torch.nn.Module] | torch.nn.Module
) -> QatCheckpoint:
    """Restore a QAT module saved by save_qat_checkpoint, ready to resume training or to export.

    module_factory builds the FP32 architecture (untrained weights are fine: the checkpoint overwrites
    them), or is such a module (it is modified in place). No calibration data is needed: the quantizers'
    placement comes from the saved NNCF config and their scales from the state dict.

    >>> ckpt = load_qat_checkpoint("ckpt.pt", build_model)
    >>> optimizer = torch.optim.Adam(ckpt.module.parameters(), lr=1e-4)
    >>> ckpt.restore_optimizer(optimizer)
    """
    import pickle

    import torch
    from nncf.torch import load_from_config

    from ovq.compression.qat.torch_glue import make_hookable, quantizer_count

    source = Path(path)
    if not source.is_file():
        raise InputFileError(f"QAT checkpoint not found: {source}")
    try:
        payload = torch.load(source, map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        text = str(exc)
        refused = re.search(r"Unsupported global: GLOBAL (\S+)", text)
        reason = f"it holds a {refused.group(1)} object" if refused else _last_line(exc)
        raise ModelFormatError(f"{source} is not a readable QAT checkpoint: {reason}") from exc
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ModelFormatError(f"{source} is not an ovq QAT checkpoint", hint="write it with save_qat_checkpoint")
    module = module_factory if isinstance(module_factory, torch.nn.Module) else module_factory()
    if quantizer_count(module):
        raise ConfigError("module_factory returned a module that already carries NNCF quantizers")
    restored = load_from_config(make_hookable(module), _decode_enums(payload["nncf_config"]))
    try:
        restored.load_state_dict(payload["state_dict"])
    except RuntimeError as exc:
        raise ConfigError(
            f"the checkpoint does not fit the module module_factory built: {_last_line(exc)}",
            hint="build the same architecture the checkpoint was trained with",
        ) from exc
    return QatCheckpoint(module=restored, optimizer_state=payload["optimizer"], extra=dict(payload["extra"]))
