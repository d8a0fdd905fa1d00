"""Assign every image to train, validation or test so that no duplicate group is divided.

- Test: the dataset's own Testing folder when it has one, otherwise a stratified carve by group.
- Validation: carved from the training pool by group, stratified, and only from groups with no member in
  the test set, so model selection never sees a copy of a test image.
- Byte-identical copies inside train or validation are kept once; the rest are marked excluded.
- The given Testing folder already shares groups with Training. Those test images stay in the test set (the
  "full" score, comparable with published numbers) and are flagged as not leak-free.
"""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold

TRAIN, VAL, TEST, EXCLUDED = "train", "val", "test", "excluded"


def assign_splits(
    labels: np.ndarray,
    groups: np.ndarray,
    is_given_test: np.ndarray,
    sha256: list[str],
    val_fraction: float,
    test_fraction: float,
    seed: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per image: split name, leak-free flag (meaningful for test images), and for excluded copies the
    index of the kept one (-1 elsewhere)."""
    count = len(labels)
    everyone = np.arange(count)
    if is_given_test.any():
        is_test = is_given_test.copy()
    else:
        is_test = np.zeros(count, dtype=bool)
        is_test[carve_by_group(everyone, labels, groups, test_fraction, seed)] = True

    test_groups = set(groups[is_test].tolist())
    pool = everyone[~is_test]
    eligible = np.array([i for i in pool if groups[i] not in test_groups], dtype=np.int64)
    splits = np.where(is_test, TEST, TRAIN).astype(object)
    if len(eligible) and val_fraction > 0:
        # Scale up so the validation set is `val_fraction` of the whole pool, not of the eligible part.
        fraction = min(0.5, val_fraction * len(pool) / len(eligible))
        splits[carve_by_group(eligible, labels, groups, fraction, seed + 1)] = VAL

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


def carve_by_group(indices: np.ndarray, labels: np.ndarray, groups: np.ndarray, fraction: float, seed: int):
    """About `fraction` of `indices`, whole groups only, with class proportions kept."""
    n_groups = len(np.unique(groups[indices]))
    n_splits = int(min(max(2, round(1 / fraction)), n_groups))
    if n_splits < 2:
        return indices[:0]
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # Tiny datasets (tests, smoke runs) have classes with fewer groups than folds; that is fine here.
        warnings.simplefilter("ignore", UserWarning)
        _, held_out = next(splitter.split(indices, labels[indices], groups[indices]))
    return indices[held_out]
