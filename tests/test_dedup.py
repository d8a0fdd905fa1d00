import hashlib
import io

import cv2
import numpy as np
import pytest
from PIL import Image

from core.io.image_io import read_image
from core.run.training_copies import perceptual_hashes
from tests.phantoms import phantom
from train.dedup import duplicate_groups


def encode(array: np.ndarray, fmt: str = "PNG", **options) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **options)
    return buffer.getvalue()


def variants(original: np.ndarray) -> dict[str, bytes]:
    """The kinds of copy the public dataset contains."""
    height, width = original.shape
    shifted = np.zeros((height + 24, width + 24), np.uint8)
    shifted[20 : 20 + height, 6 : 6 + width] = original
    return {
        "byte-identical": encode(original),
        "re-encoded": encode(original, "JPEG", quality=75),
        "resized": encode(cv2.resize(original, (width * 3 // 5, height * 3 // 5), interpolation=cv2.INTER_AREA)),
        "shifted": encode(shifted),
        "mirrored": encode(np.ascontiguousarray(original[:, ::-1])),
        "brighter": encode(np.clip(original.astype(int) * 11 // 10 + 8, 0, 255).astype(np.uint8), "JPEG", quality=90),
    }


def deduplicate(files: list[bytes]) -> tuple[np.ndarray, dict]:
    hashes = [perceptual_hashes(read_image(data)) for data in files]
    return duplicate_groups(
        [hashlib.sha256(data).hexdigest() for data in files],
        np.stack([h[0] for h in hashes]),
        np.stack([h[1] for h in hashes]),
    )


@pytest.fixture(scope="module")
def slices() -> list[np.ndarray]:
    labels = ["glioma", "meningioma", "notumor", "pituitary"]
    return [phantom(seed, labels[seed % 4], 256) for seed in range(24)]


def test_copies_join_their_original(slices):
    originals = [encode(s) for s in slices]
    copies = {kind: data for kind, data in variants(slices[0]).items()}
    groups, _ = deduplicate(originals + list(copies.values()))
    for offset, kind in enumerate(copies):
        assert groups[len(originals) + offset] == groups[0], f"{kind} copy was not recognised"


def test_different_slices_stay_apart(slices):
    groups, _ = deduplicate([encode(s) for s in slices])
    assert len(set(groups.tolist())) == len(slices)


def test_summary_counts_exact_and_near_groups(slices):
    files = [encode(s) for s in slices[:4]]
    files += [files[0], files[0], encode(slices[1], "JPEG", quality=80)]
    _, summary = deduplicate(files)
    assert summary["exact_duplicate_groups"] == 1 and summary["exact_duplicate_files"] == 3
    assert summary["duplicate_groups"] == 2 and summary["largest_group"] == 3
