"""Index folders of class subfolders (one or more sources), then decode, hash and preprocess every image once.

Layouts of each source:  DIR/<class>/*                       -> one pool; its test share is carved out later
                         DIR/Training/<class>/*, DIR/Testing/<class>/*  -> Testing is its test set
Every image keeps the name of the source it came from, so splits, duplicates and metrics can be per source.
The result, `PreparedData`, holds every readable image as uint8 at the model's input size (the output of
`core.model.preprocessing`), its label, origin folder, content hash and perceptual hashes. Unreadable files are
listed, never fatal.

Tumour outlines: a source may come with a folder of masks in the same layout (`--masks NAME=DIR`, the same
relative path with `.png`). Each image then has a mask moved with it to the model's input (`masks`), and
`mask_known` says which masks mean something: the outlined images, and every no-tumour image of every source
(its mask is empty). A tumour image without an outline trains its class only.
"""

from __future__ import annotations

import dataclasses
import hashlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from core.decide.assessment import picture_status
from core.io.image_io import UnreadableScanError, read_image
from core.labels import KNOWN_CLASSES, NO_TUMOUR, canonical_label
from core.model.ood import IMAGE_STATISTICS, image_statistics
from core.model.preprocessing import Preprocessing
from core.run.training_copies import perceptual_hashes

TRAIN_FOLDER, TEST_FOLDER = "Training", "Testing"


@dataclass(frozen=True)
class Source:
    name: str  # what reports call it: the folder's name unless given as NAME=DIR
    root: Path

    @classmethod
    def parse(cls, value: str | Path) -> Source:
        """'DIR' or 'NAME=DIR'."""
        text = str(value)
        name, separator, folder = text.partition("=")
        if not separator or not name or "/" in name:
            folder, name = text, Path(text).resolve().name
        return cls(name, Path(folder))


@dataclass
class IndexedFile:
    path: Path  # absolute
    relative: str  # relative to its source's root; what reports show beside the source
    label: str
    origin: str  # "Training", "Testing", or "" for a flat layout
    source: str = ""


@dataclass
class PreparedData:
    sources: list[Source]
    classes: list[str]
    files: list[IndexedFile]  # readable files only, aligned with the arrays below
    images: np.ndarray  # uint8 (N, S, S)
    labels: np.ndarray  # int64 (N,)
    sha256: list[str]
    dhash: np.ndarray  # uint64 (N, 4): 256-bit difference hash of the head crop
    dhash_mirrored: np.ndarray  # the same for the mirrored image
    statistics: np.ndarray  # float32 (N, len(IMAGE_STATISTICS)): the decoded image's, for the OOD gate
    picture_status: np.ndarray  # str (N,): a refusal the decoded picture earns by itself (too small, montage)
    unreadable: list[dict] = field(default_factory=list)  # {"path", "reason"}
    masks: np.ndarray | None = None  # uint8 (N, S, S), 255 = tumour; None when no source has outlines
    mask_known: np.ndarray | None = None  # bool (N,): the mask is an outline, or the image has no tumour

    @property
    def source_names(self) -> np.ndarray:
        return np.array([f.source for f in self.files], dtype=object)

    def has_test_folder(self, source: str) -> bool:
        return any(f.origin == TEST_FOLDER and f.source == source for f in self.files)


def index_sources(sources: list[Source]) -> tuple[list[str], list[IndexedFile]]:
    """The union of every source's classes (a source may lack some, e.g. no pituitary) and all their files.
    Folder names in a common spelling of a known class ("Normal", "no_tumor") join that class."""
    names = [source.name for source in sources]
    if len(set(names)) != len(names):
        raise ValueError(f"two data sources share a name ({', '.join(names)}); name them with NAME=DIR")
    classes, files = set(), []
    for source in sources:
        _, source_files = index_folder(source.root)
        for indexed in source_files:
            label = canonical_label(indexed.label, KNOWN_CLASSES) or indexed.label
            classes.add(label)
            files.append(dataclasses.replace(indexed, label=label, source=source.name))
    return sorted(classes), files


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
    sources: list[Source] | str | Path,
    preprocessing: Preprocessing,
    limit_per_class: int | None = None,
    workers: int | None = None,
    masks: list[Source] | None = None,
) -> PreparedData:
    """Decode, hash and preprocess every file of every source (one folder is one source), in parallel.
    `masks` names, per source, a folder of its tumour outlines."""
    if isinstance(sources, str | Path):
        sources = [Source.parse(sources)]
    classes, files = index_sources(sources)
    return decode_files(sources, classes, files, preprocessing, limit_per_class, workers, masks)


def decode_files(
    sources: list[Source],
    classes: list[str],
    files: list[IndexedFile],
    preprocessing: Preprocessing,
    limit_per_class: int | None = None,
    workers: int | None = None,
    masks: list[Source] | None = None,
) -> PreparedData:
    if limit_per_class:
        files = _first_per_class(files, limit_per_class)
    workers = workers or max(1, min(os.cpu_count() or 1, 16))
    mask_roots = _mask_roots(sources, masks or [])
    jobs = [(str(f.path), preprocessing, _mask_path(f, mask_roots)) for f in files]
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
            unreadable.append({"source": indexed.source, "path": indexed.relative, "reason": result})
        else:
            kept.append((indexed, result))
    size = preprocessing.img_size
    return PreparedData(
        sources=sources,
        classes=classes,
        files=[indexed for indexed, _ in kept],
        images=np.stack([r[0] for _, r in kept]) if kept else np.zeros((0, size, size), np.uint8),
        labels=np.array([classes.index(indexed.label) for indexed, _ in kept], dtype=np.int64),
        sha256=[r[1] for _, r in kept],
        dhash=np.array([r[2] for _, r in kept], dtype=np.uint64).reshape(-1, 4),
        dhash_mirrored=np.array([r[3] for _, r in kept], dtype=np.uint64).reshape(-1, 4),
        statistics=np.array([r[4] for _, r in kept], dtype=np.float32).reshape(-1, len(IMAGE_STATISTICS)),
        picture_status=np.array([r[5] for _, r in kept], dtype=object),
        unreadable=unreadable,
        **_stacked_masks([(indexed, r[6]) for indexed, r in kept], size, enabled=bool(mask_roots)),
    )


def _mask_roots(sources: list[Source], masks: list[Source]) -> dict[str, Path]:
    names = {source.name for source in sources}
    unknown = [mask.name for mask in masks if mask.name not in names]
    if unknown:
        raise ValueError(f"masks for {', '.join(unknown)}: no data source has that name ({', '.join(sorted(names))})")
    return {mask.name: mask.root for mask in masks}


def _mask_path(indexed: IndexedFile, mask_roots: dict[str, Path]) -> str | None:
    root = mask_roots.get(indexed.source)
    if root is None:
        return None
    path = root / Path(indexed.relative).with_suffix(".png")
    return str(path) if path.is_file() else None


def _stacked_masks(rows: list[tuple[IndexedFile, np.ndarray | None]], size: int, enabled: bool) -> dict:
    if not enabled:
        return {}
    masks = np.zeros((len(rows), size, size), np.uint8)
    known = np.zeros(len(rows), bool)
    for position, (indexed, mask) in enumerate(rows):
        if mask is not None:
            masks[position], known[position] = mask, True
        elif indexed.label == NO_TUMOUR:
            known[position] = True
    return {"masks": masks, "mask_known": known}


def _prepare_one(job: tuple[str, Preprocessing, str | None]):
    """(uint8 image, sha256, dhash, mirrored dhash, image statistics, picture status, uint8 mask or None), or why
    the file (or its mask) cannot be read."""
    path, preprocessing, mask_path = job
    try:
        data = Path(path).read_bytes()
        gray = read_image(data)
        image = preprocessing.to_uint8(gray)
        mask = None if mask_path is None else preprocessing.mask_to_uint8(read_image(mask_path) > 0.5, gray)
    except (UnreadableScanError, OSError, ValueError) as error:
        return str(error)
    return (
        image,
        hashlib.sha256(data).hexdigest(),
        *perceptual_hashes(gray),
        image_statistics(gray),
        picture_status(gray, preprocessing.img_size),
        mask,
    )


def _first_per_class(files: list[IndexedFile], limit: int) -> list[IndexedFile]:
    """At most `limit` files per (source, origin, class): small runs for tests and smoke checks."""
    counts: dict[tuple[str, str, str], int] = {}
    kept = []
    for f in files:
        key = (f.source, f.origin, f.label)
        counts[key] = counts.get(key, 0) + 1
        if counts[key] <= limit:
            kept.append(f)
    return kept
