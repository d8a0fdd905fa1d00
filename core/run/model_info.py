"""What a reader needs to know about the model behind an answer: name, version, held-out accuracy."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class ModelInfo:
    name: str  # the run's name (its weights folder at training time)
    architecture: str
    img_size: int | None
    classes: list[str]
    created: str  # ISO timestamp of training
    weights_sha256: str
    accuracy_full: float | None  # held-out test accuracy, all test images
    accuracy_leak_free: float | None  # on test images with no copy in the training data
    test_images: int | None
    leak_free_images: int | None
    # source name -> (accuracy, images) on its leak-free test share; empty for single-source reports
    leak_free_by_source: dict[str, tuple[float, int]] = field(default_factory=dict)
    # sources never trained on, scored after training (train.evaluate): name -> (accuracy, images), on the
    # images with no copy in the training data. A training source's held-out share is not one of them: its
    # figure is already in leak_free_by_source.
    external: dict[str, tuple[float, int]] = field(default_factory=dict)

    @property
    def version(self) -> str:
        """Date trained and the start of the weights' hash: enough to tell two models apart."""
        day = self.created[:10] if self.created else "undated"
        return f"{day} · {self.weights_sha256[:12]}" if self.weights_sha256 else day

    @classmethod
    def from_artifacts(
        cls, metadata: dict, metrics: dict | None, externals: dict[str, dict] | None = None
    ) -> ModelInfo:
        test = (metrics or {}).get("test") or {}
        full, clean = test.get("full") or {}, test.get("leak_free") or {}
        recorded = metadata.get("test_accuracy") or {}
        sources = ((metrics or {}).get("data") or {}).get("sources") or []
        return cls(
            name=str(metadata.get("name") or "unnamed"),
            architecture=str(metadata.get("architecture") or "unknown"),
            img_size=(metadata.get("preprocessing") or {}).get("img_size"),
            classes=list(metadata.get("classes") or []),
            created=str(metadata.get("created") or ""),
            weights_sha256=str(metadata.get("weights_sha256") or ""),
            accuracy_full=full.get("accuracy", recorded.get("full")),
            accuracy_leak_free=clean.get("accuracy", recorded.get("leak_free")),
            test_images=full.get("n"),
            leak_free_images=clean.get("n"),
            leak_free_by_source={
                source: (values["accuracy"], values["n"])
                for source, values in ((clean.get("breakdown") or {}).get("source") or {}).items()
                if values.get("accuracy") is not None
            },
            external={
                name: (scored["clean"]["accuracy"], scored["clean"]["n"])
                for name, scored in (externals or {}).items()
                if (scored.get("clean") or {}).get("n")
                and scored["clean"].get("accuracy") is not None
                and not is_training_source(scored, sources)
            },
        )


def is_training_source(external_metrics: dict, sources: list[str]) -> bool:
    """Whether a set scored after training is a folder the run trained on (its clean images are that source's
    held-out share, not an independent set): the one test the sidebar and the Evaluation page both use."""
    folder = Path(str((external_metrics.get("data") or {}).get("folder") or "")).name
    return bool(folder) and folder in sources
