"""Is this image a copy of one the run trained on? Exact copies share a sha256 of their bytes; near copies
(the same slice re-encoded, resized, shifted, padded or mirrored) share a 256-bit difference hash of the
head's bounding box up to a small Hamming distance.

The hashes are written into a run's split manifest at training time (train/split_data.py) and read back
here by whatever scores new images against that run: `python -m train.evaluate` and the Validate page. They
describe a run, so they live in core, and the app needs nothing from the training package to use them.

Why distance 10 by default: on the public dataset, pairs of images from *different* classes (which cannot be
the same slice) are never within 24 bits of each other, apart from 2 pairs that are byte-identical slices
filed under two classes and 2 adjacent slices of one scan. Same-class pairs within 10 bits are, by eye,
copies of one slice or its immediate neighbour.
"""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np

from core.model.preprocessing import head_bounding_box
from core.run.run_folder import TRAIN, VAL

NEAR_DUPLICATE_BITS = 10
_BLOCK = 256  # images compared at once: a (256, N, 4) array of hash words stays small


def perceptual_hashes(gray: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Difference hashes (4 × uint64 each) of the head crop and of its mirror image."""
    top, bottom, left, right = head_bounding_box(gray)
    crop = gray[top:bottom, left:right]
    return difference_hash(crop), difference_hash(crop[:, ::-1])


def difference_hash(gray: np.ndarray) -> np.ndarray:
    """256 bits: is each pixel of a 16×17 thumbnail brighter than its right-hand neighbour?"""
    thumbnail = cv2.resize(np.ascontiguousarray(gray, dtype=np.float32), (17, 16), interpolation=cv2.INTER_AREA)
    bits = (thumbnail[:, 1:] > thumbnail[:, :-1]).ravel()
    return np.packbits(bits).view(">u8").astype(np.uint64)


def hamming_distances(hashes: np.ndarray, others: np.ndarray) -> np.ndarray:
    """(len(hashes), len(others)) matrix of bit differences between 256-bit hashes."""
    return np.bitwise_count(hashes[:, None, :] ^ others[None, :, :]).sum(axis=2, dtype=np.int32)


def hash_hex(words: np.ndarray) -> str:
    """4 × uint64 -> 64 hex digits, as the split manifest stores a hash."""
    return "".join(f"{int(word):016x}" for word in words)


def hash_words(text: str) -> np.ndarray:
    """The inverse of `hash_hex`: 64 hex digits -> 4 × uint64."""
    return np.array([int(text[i : i + 16], 16) for i in range(0, 64, 16)], dtype=np.uint64)


class TrainingCopies:
    """The run's training and validation images, by sha256 and near hash, from its split manifest."""

    def __init__(self, manifest_path: Path, max_bits: int = NEAR_DUPLICATE_BITS):
        with open(manifest_path, newline="") as handle:
            rows = [row for row in csv.DictReader(handle) if row.get("split") in (TRAIN, VAL)]
        self.max_bits = max_bits
        self.paths = [f"{row.get('source', '')}/{row['path']}".lstrip("/") for row in rows]
        self.by_sha256 = {row["sha256"]: i for i, row in enumerate(rows)}
        self.dhash = np.array([hash_words(row["dhash"]) for row in rows], dtype=np.uint64).reshape(-1, 4)

    def matches(self, sha256: list[str], dhash: np.ndarray, dhash_mirrored: np.ndarray) -> list[str]:
        """Per image: "" when it has no copy among the training images, else 'exact: PATH' or 'near: PATH'."""
        found = []
        for start in range(0, len(sha256), _BLOCK):
            block = slice(start, start + _BLOCK)
            if len(self.dhash):
                distance = np.minimum(
                    hamming_distances(dhash[block], self.dhash), hamming_distances(dhash_mirrored[block], self.dhash)
                )
                nearest = distance.argmin(1)
                nearest_bits = distance[np.arange(len(nearest)), nearest]
            else:
                nearest = nearest_bits = np.full(len(sha256[block]), -1)
            for k, digest in enumerate(sha256[block]):
                if digest in self.by_sha256:
                    found.append(f"exact: {self.paths[self.by_sha256[digest]]}")
                elif 0 <= nearest_bits[k] <= self.max_bits:
                    found.append(f"near: {self.paths[nearest[k]]}")
                else:
                    found.append("")
        return found
