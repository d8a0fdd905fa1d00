"""Assign every image to train, validation or test so that no duplicate group is divided.

- Test: per source, the source's own Testing folder when it has one, otherwise a stratified carve by group.
- Validation: per source, carved from the training pool by group, stratified, and only from groups with no
  member in the test set, so model selection never sees a copy of a test image.
- Groups span sources (a near copy in two collections is one group), so no split divides them either.
- Byte-identical copies inside train or validation are kept once; the rest are marked excluded.
- The given Testing folder already shares groups with Training. Those test images stay in the test set (the
  "full" score, comparable with published numbers) and are flagged as not leak-free.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

from core.run.run_folder import EXCLUDED, TEST, TRAIN, VAL


def assign_splits(
    labels: np.ndarray,
    groups: np.ndarray,
    is_given_test: np.ndarray,
    sha256: list[str],
    val_fraction: float,
    test_fraction: float,
    seed: int,
    sources: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per image: split name, leak-free flag (meaningful for test images), and for excluded copies the
    index of the kept one (-1 elsewhere). `sources` names each image's source (default: all one source)."""
    count = len(labels)
    everyone = np.arange(count)
    sources = np.zeros(count, dtype=object) if sources is None else np.asarray(sources, dtype=object)
    per_source = [everyone[sources == name] for name in dict.fromkeys(sources.tolist())]
    is_test = is_given_test.copy()
    for members in per_source:
        if not is_given_test[members].any():
            is_test[carve_by_group(members, labels, groups, test_fraction, seed)] = True
    # Members of a test image's group in the pool may train (the test copy is then not leak-free), never validate.
    test_groups = set(groups[is_test].tolist())
    pool = everyone[~is_test]
    splits = np.where(is_test, TEST, TRAIN).astype(object)
    for members in per_source:
        source_pool = members[~is_test[members]]
        eligible = np.array([i for i in source_pool if groups[i] not in test_groups], dtype=np.int64)
        if len(eligible) and val_fraction > 0:
            # Scale up so the validation set is `val_fraction` of the whole pool, not of the eligible part.
            fraction = min(0.5, val_fraction * len(source_pool) / len(eligible))
            chosen = carve_by_group(eligible, labels, groups, fraction, seed + 1)
            # A group spanning sources may have been chosen for another source's training: keep it whole.
            splits[chosen] = VAL
    _keep_groups_whole(splits, groups)

    copy_of = np.full(count, -1, dtype=np.int64)
    first_seen: dict[tuple[str, str], int] = {}
    for i in pool:
        key = (splits[i], sha256[i])
        if key in first_seen:
            copy_of[i] = first_seen[key]
            splits[i] = EXCLUDED
        else:
            first_seen[key] = i

    training_groups = set(groups[pool].tolist())
    leak_free = is_test & np.array([g not in training_groups for g in groups], dtype=bool)
    return splits.astype(str), leak_free, copy_of


def _keep_groups_whole(splits: np.ndarray, groups: np.ndarray) -> None:
    """A group split between train and validation (possible when it spans sources) goes to validation."""
    in_val = set(groups[splits == VAL].tolist())
    moved = (splits == TRAIN) & np.isin(groups, list(in_val))
    splits[moved] = VAL


def carve_by_group(indices: np.ndarray, labels: np.ndarray, groups: np.ndarray, fraction: float, seed: int):
    """About `fraction` of `indices`, whole groups only, with class proportions kept."""
    n_groups = len(np.unique(groups[indices]))
    largest_class = int(np.bincount(labels[indices]).max()) if len(indices) else 0
    # The splitter needs a class with at least as many members as folds (small sources, smoke runs).
    n_splits = int(min(max(2, round(1 / fraction)), n_groups, largest_class))
    if n_splits < 2:
        return indices[:0]
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # Tiny datasets (tests, smoke runs) have classes with fewer groups than folds; that is fine here.
        warnings.simplefilter("ignore", UserWarning)
        _, held_out = next(splitter.split(indices, labels[indices], groups[indices]))
    return indices[held_out]
