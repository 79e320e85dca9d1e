"""The models of recorded nights, kept beside the history so a later night can re-measure them.

A speed regression across nights is only believable when the two models are measured next to each other,
in the same process, under the same load (:mod:`ovq.nightly.confirm`). Tonight's run folder is overwritten
tomorrow, so the history keeps its own copy of every recorded run's IRs:

    <history>.artifacts/
        models/<sha256 of xml+bin>/model.xml, model.bin   content-addressed: an unchanged model is stored once
        runs/<run id>.json                                  {"pipeline": ..., "variants": {name: digest}}

Writes are atomic (a temporary folder renamed into place; the run manifest written last), so a kill at any
point leaves either a complete model or none. Only the models of the last ``KEEP_RUNS`` recorded runs of each
pipeline are kept; a model younger than ``PRUNE_GRACE_S`` is never pruned (another job may be recording it).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

from ovq.runtime.artifacts import ir_digest, write_json_atomic

#: Recorded runs per pipeline whose models are kept.
KEEP_RUNS = 3
#: A stored model younger than this is never pruned: a concurrent job may be about to reference it.
PRUNE_GRACE_S = 3600.0


class ArtifactStore:
    """The model files of recorded runs (see the module docstring)."""

    def __init__(self, history_path: Path):
        self.root = Path(str(history_path) + ".artifacts")

    @property
    def _models(self) -> Path:
        return self.root / "models"

    @property
    def _runs(self) -> Path:
        return self.root / "runs"

    def put(self, xml_path: Path) -> str:
        """Store one IR (xml + bin) and return its digest; storing the same bytes again is free."""
        digest = ir_digest(xml_path)
        target = self._models / digest
        if (target / "model.xml").is_file() and (target / "model.bin").is_file():
            os.utime(target)  # fresh again: keeps it out of a concurrent prune's grace window
            return digest
        self._models.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".put-", dir=self._models))
        try:
            shutil.copyfile(xml_path, staging / "model.xml")
            shutil.copyfile(xml_path.with_suffix(".bin"), staging / "model.bin")
            try:
                staging.rename(target)
            except OSError:
                if not (target / "model.xml").is_file():  # not a concurrent writer of the same bytes
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return digest

    def record_run(
        self, run_id: int, pipeline: str, models: dict[str, Path], *, keep: Iterable[int] = ()
    ) -> dict[str, str]:
        """Store the run's variant models and its manifest; then prune what no kept run references.

        keep: run ids kept beyond the last KEEP_RUNS (the baseline tonight was gated against).
        """
        digests = {name: self.put(path) for name, path in models.items() if path.is_file()}
        self._runs.mkdir(parents=True, exist_ok=True)
        write_json_atomic(self._runs / f"{run_id}.json", {"pipeline": pipeline, "variants": digests})
        self.prune(keep=keep)
        return digests

    def model_of(self, run_id: int, variant: str) -> Path | None:
        """The stored IR (.xml) of one variant of a recorded run, or None when it is not kept."""
        try:
            manifest = json.loads((self._runs / f"{run_id}.json").read_text())
            digest = manifest["variants"][variant]
        except (OSError, ValueError, KeyError, TypeError):
            return None
        path = self._models / str(digest) / "model.xml"
        return path if path.is_file() and path.with_suffix(".bin").is_file() else None

    def prune(self, *, keep: Iterable[int] = ()) -> None:
        """Drop the manifests beyond each pipeline's last KEEP_RUNS runs (and ``keep``) and unreferenced models."""
        kept = set(keep)
        manifests: dict[str, list[tuple[int, Path, dict[str, object]]]] = {}
        for path in self._runs.glob("*.json"):
            try:
                manifest = json.loads(path.read_text())
                manifests.setdefault(str(manifest["pipeline"]), []).append((int(path.stem), path, manifest))
            except (OSError, ValueError, KeyError, TypeError):
                continue  # a foreign or half-written file: never ours to judge
        referenced: set[str] = set()
        for runs in manifests.values():
            runs.sort(key=lambda item: item[0], reverse=True)
            for index, (run_id, path, manifest) in enumerate(runs):
                if index < KEEP_RUNS or run_id in kept:
                    referenced.update(str(d) for d in dict(manifest.get("variants") or {}).values())  # type: ignore[call-overload]
                else:
                    with contextlib.suppress(OSError):
                        path.unlink()
        if not self._models.is_dir():
            return
        now = time.time()
        for model in self._models.iterdir():
            if model.name in referenced or model.name.startswith(".put-"):
                continue
            with contextlib.suppress(OSError):
                if now - model.stat().st_mtime > PRUNE_GRACE_S:
                    shutil.rmtree(model)
