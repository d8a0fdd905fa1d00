from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image

from tests.orthanc import empty_orthanc, orthanc  # noqa: F401  (fixtures: a real Orthanc PACS)
from tests.phantoms import phantom, write_dataset

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "brain-tumor-mri"


@pytest.fixture(scope="session")
def synthetic_dataset(tmp_path_factory) -> Path:
    """Training/Testing phantoms with the dataset's quirks: a corrupt file, a PNG named .jpg, and copies of
    test images (byte-identical, and re-encoded + resized) inside Training."""
    root = write_dataset(tmp_path_factory.mktemp("data") / "mri", {"Training": 8, "Testing": 3})
    (root / "Training" / "glioma" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    Image.fromarray(phantom(999_001, "notumor")).save(root / "Training" / "notumor" / "png_named.jpg", format="PNG")
    test_image = sorted((root / "Testing" / "pituitary").iterdir())[0]
    shutil.copy(test_image, root / "Training" / "pituitary" / "exact_copy.png")
    near = Image.open(test_image).resize((80, 80))
    near.save(root / "Training" / "pituitary" / "near_copy.jpg", quality=90)
    return root


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory, synthetic_dataset) -> Path:
    """A real model trained by `python -m train` on the phantoms (a few seconds on a CPU)."""
    from train.cli import main

    out = tmp_path_factory.mktemp("weights") / "tiny"
    main(
        [
            "--data",
            str(synthetic_dataset),
            "--out",
            str(out),
            "--epochs",
            "3",
            "--img-size",
            "32",
            "--batch-size",
            "16",
            "--workers",
            "1",
            "--arch",
            "custom_cnn",
            "--device",
            "cpu",
        ]
    )
    return out


@pytest.fixture(scope="session")
def outlined_dataset(tmp_path_factory) -> tuple[Path, Path]:
    """Phantoms with their tumour masks: (data folder, masks folder)."""
    root = tmp_path_factory.mktemp("outlined")
    masks = root / "masks"
    return write_dataset(root / "mri", {"Training": 8, "Testing": 3}, seed=3, masks=masks), masks


@pytest.fixture(scope="session")
def outlining_weights(tmp_path_factory, outlined_dataset) -> Path:
    """A real network with a mask head, trained by `python -m train` on outlined phantoms, without abstention
    or the gate (so that its answers and outlines reach the page)."""
    from core.model.checkpoint import read_metadata, write_json_atomic
    from train.cli import main

    data, masks = outlined_dataset
    out = tmp_path_factory.mktemp("weights") / "outlining"
    recipe = ["--epochs", "3", "--img-size", "64", "--batch-size", "16", "--workers", "1", "--device", "cpu"]
    main(
        [
            *("--data", str(data), "--masks", f"{data.name}={masks}", "--out", str(out)),
            *("--arch", "mobilenet_v3_small_mask", "--precision", "float32", *recipe),
        ]
    )
    metadata = read_metadata(out)
    metadata.pop("ood", None)
    metadata["abstention"] = {**metadata.get("abstention", {}), "threshold": 0.0, "on_head_disagreement": False}
    write_json_atomic(out / "metadata.json", metadata)
    (out / "ood.safetensors").unlink(missing_ok=True)
    return out


@pytest.fixture(scope="session")
def answering_weights(tmp_path_factory, tiny_weights) -> Path:
    """`tiny_weights` without abstention or the out-of-distribution gate. The tiny model is near chance, so
    its own settings rightly refuse almost everything; tests of what happens once a class is stated (CSV
    rows, charts, overlays) use this copy. The settings themselves are tested with the real ones."""
    from core.model.checkpoint import read_metadata, write_json_atomic

    out = tmp_path_factory.mktemp("weights") / "answering"
    shutil.copytree(tiny_weights, out)
    metadata = read_metadata(out)
    metadata.pop("ood", None)
    metadata["abstention"] = {**metadata.get("abstention", {}), "threshold": 0.0}
    write_json_atomic(out / "metadata.json", metadata)
    (out / "ood.safetensors").unlink(missing_ok=True)
    return out
