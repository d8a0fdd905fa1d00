"""Index a folder of class subfolders, then decode, hash and preprocess every image once.

Layouts:  DIR/<class>/*                       -> one pool; the test set is carved out later
          DIR/Training/<class>/*, DIR/Testing/<class>/*  -> Testing is the test set
The result, `PreparedData`, holds every readable image as uint8 at the model's input size (the output of
`core.preprocessing`), its label, origin folder, content hash and perceptual hashes. Unreadable files are
listed, never fatal.
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core.image_io import UnreadableScanError, read_image
from core.ood import IMAGE_STATISTICS, image_statistics
from core.preprocessing import Preprocessing
from train.dedup import perceptual_hashes

TRAIN_FOLDER, TEST_FOLDER = "Training", "Testing"


@dataclass
class IndexedFile:
    path: Path  # absolute
    relative: str  # relative to the data root; what reports show
    label: str
    origin: str  # "Training", "Testing", or "" for a flat layout


@dataclass
class PreparedData:
    root: Path
    classes: list[str]
    files: list[IndexedFile]  # readable files only, aligned with the arrays below
    images: np.ndarray  # uint8 (N, S, S)
    labels: np.ndarray  # int64 (N,)
    sha256: list[str]
    dhash: np.ndarray  # uint64 (N, 4): 256-bit difference hash of the head crop
    dhash_mirrored: np.ndarray  # the same for the mirrored image
    statistics: np.ndarray  # float32 (N, len(IMAGE_STATISTICS)): the decoded image's, for the OOD gate
    unreadable: list[dict] = field(default_factory=list)  # {"path", "reason"}

    @property
    def has_test_folder(self) -> bool:
        return any(f.origin == TEST_FOLDER for f in self.files)


def index_folder(root: str | Path) -> tuple[list[str], list[IndexedFile]]:
    """Classes (sorted subfolder names) and every file under them, in a stable order."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist")
    split_layout = (root / TRAIN_FOLDER).is_dir() and (root / TEST_FOLDER).is_dir()
    origins = [TRAIN_FOLDER, TEST_FOLDER] if split_layout else [""]
    class_sets = [{d.name for d in (root / o).iterdir() if d.is_dir() and not d.name.startswith(".")} for o in origins]
    classes = sorted(set.union(*class_sets))
    if len(classes) < 2:
        raise ValueError(f"{root} needs at least two class subfolders, found {classes}")
    files = []
    for origin in origins:
        for label in classes:
            folder = root / origin / label
            if not folder.is_dir():
                continue
            for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")):
                files.append(IndexedFile(path, path.relative_to(root).as_posix(), label, origin))
    return classes, files


def prepare(
    root: str | Path,
    preprocessing: Preprocessing,
    limit_per_class: int | None = None,
    workers: int | None = None,
) -> PreparedData:
    """Decode, hash and preprocess every file under `root`, in parallel processes."""
    root = Path(root)
    classes, files = index_folder(root)
    if limit_per_class:
        files = _first_per_class(files, limit_per_class)
    workers = workers or max(1, min(os.cpu_count() or 1, 16))
    jobs = [(str(f.path), preprocessing) for f in files]
    if workers == 1:
        results = [_prepare_one(job) for job in tqdm(jobs, desc="decoding", unit="img", leave=False, disable=None)]
    else:
        # spawn, not fork: forking a process that already runs torch's threads can deadlock.
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
            results = list(
                tqdm(
                    pool.map(_prepare_one, jobs, chunksize=32),
                    total=len(jobs),
                    desc="decoding",
                    unit="img",
                    leave=False,
                    disable=None,
                )
            )
    kept, unreadable = [], []
    for indexed, result in zip(files, results, strict=True):
        if isinstance(result, str):
            unreadable.append({"path": indexed.relative, "reason": result})
        else:
            kept.append((indexed, result))
    size = preprocessing.img_size
    return PreparedData(
        root=root,
        classes=classes,
        files=[indexed for indexed, _ in kept],
        images=np.stack([r[0] for _, r in kept]) if kept else np.zeros((0, size, size), np.uint8),
        labels=np.array([classes.index(indexed.label) for indexed, _ in kept], dtype=np.int64),
        sha256=[r[1] for _, r in kept],
        dhash=np.array([r[2] for _, r in kept], dtype=np.uint64).reshape(-1, 4),
        dhash_mirrored=np.array([r[3] for _, r in kept], dtype=np.uint64).reshape(-1, 4),
        statistics=np.array([r[4] for _, r in kept], dtype=np.float32).reshape(-1, len(IMAGE_STATISTICS)),
        unreadable=unreadable,
    )


def _prepare_one(job: tuple[str, Preprocessing]):
    """(uint8 image, sha256, dhash, mirrored dhash, image statistics), or why the file cannot be read."""
    path, preprocessing = job
    try:
        data = Path(path).read_bytes()
        gray = read_image(data)
        image = preprocessing.to_uint8(gray)
    except (UnreadableScanError, OSError, ValueError) as error:
        return str(error)
    return (image, hashlib.sha256(data).hexdigest(), *perceptual_hashes(gray), image_statistics(gray))


def _first_per_class(files: list[IndexedFile], limit: int) -> list[IndexedFile]:
    """At most `limit` files per (origin, class): small runs for tests and smoke checks."""
    counts: dict[tuple[str, str], int] = {}
    kept = []
    for f in files:
        key = (f.origin, f.label)
        counts[key] = counts.get(key, 0) + 1
        if counts[key] <= limit:
            kept.append(f)
    return kept
