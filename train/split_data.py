"""A prepared dataset divided for training: duplicate groups (across sources), splits, and the manifest.

`split_dataset` is the one place a run decides which image trains, validates or tests; the report, the
safety fitting and the external evaluation's contamination check all read the result from here or from the
split manifest it writes.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass

import numpy as np

from core.io.scan_attributes import plane_from_path, sequence_from_path
from core.run.training_copies import hash_hex
from train.dataset import TEST_FOLDER, PreparedData
from train.dedup import duplicate_groups
from train.splits import EXCLUDED, TEST, TRAIN, VAL, assign_splits

MANIFEST_COLUMNS = [
    "source",
    "path",
    "class",
    "origin",
    "split",
    "group",
    "leak_free",
    "copy_of",
    "sha256",
    "dhash",
    "dhash_mirrored",
]


@dataclass(frozen=True)
class SplitData:
    data: PreparedData
    names: np.ndarray  # str (N,): train / val / test / excluded
    leak_free: np.ndarray  # bool (N,): test images with no copy in train or validation
    copy_of: np.ndarray  # int (N,): for excluded byte-identical copies, the index of the kept one
    groups: np.ndarray  # int (N,): duplicate group
    duplicates: dict  # counts for the report

    @property
    def train(self) -> np.ndarray:
        return np.nonzero(self.names == TRAIN)[0]

    @property
    def val(self) -> np.ndarray:
        return np.nonzero(self.names == VAL)[0]

    @property
    def test(self) -> np.ndarray:
        return np.nonzero(self.names == TEST)[0]

    def manifest(self) -> list[dict]:
        data, rows = self.data, []
        for i, indexed in enumerate(data.files):
            kept = self.copy_of[i]
            rows.append(
                {
                    "source": indexed.source,
                    "path": indexed.relative,
                    "class": indexed.label,
                    "origin": indexed.origin,
                    "split": str(self.names[i]),
                    "group": int(self.groups[i]),
                    "leak_free": int(self.leak_free[i]) if self.names[i] == TEST else "",
                    "copy_of": f"{data.files[kept].source}/{data.files[kept].relative}" if kept >= 0 else "",
                    "sha256": data.sha256[i],
                    "dhash": hash_hex(data.dhash[i]),
                    "dhash_mirrored": hash_hex(data.dhash_mirrored[i]),
                }
            )
        for unreadable in data.unreadable:
            rows.append({**unreadable, "split": "unreadable", "copy_of": "", "leak_free": ""})
        return rows

    @property
    def manifest_sha256(self) -> str:
        """Identifies the training data: same files, same content, same splits -> same hash."""
        digest = hashlib.sha256()
        for row in sorted(self.manifest(), key=lambda r: (r.get("source", ""), r["path"])):
            line = f"{row.get('source', '')}\t{row['path']}\t{row.get('sha256', '')}\t{row.get('class', '')}"
            digest.update(f"{line}\t{row['split']}\n".encode())
        return digest.hexdigest()

    def summary(self) -> dict:
        data = self.data
        counts = {
            split: {
                name: int(((self.names == split) & (data.labels == c)).sum()) for c, name in enumerate(data.classes)
            }
            for split in (TRAIN, VAL, TEST, EXCLUDED)
        }
        sources = data.source_names
        by_source = {
            source.name: {
                split: {
                    name: int(((self.names == split) & (data.labels == c) & (sources == source.name)).sum())
                    for c, name in enumerate(data.classes)
                }
                for split in (TRAIN, VAL, TEST)
            }
            for source in data.sources
        }
        is_test = self.names == TEST
        test_groups, pool_groups = set(self.groups[is_test].tolist()), set(self.groups[~is_test].tolist())
        labels_by_group: dict[int, set] = {}
        for group, label in zip(self.groups.tolist(), data.labels.tolist(), strict=True):
            labels_by_group.setdefault(group, set()).add(label)
        source_of_group: dict[int, set] = {}
        for group, source in zip(self.groups.tolist(), sources.tolist(), strict=True):
            source_of_group.setdefault(group, set()).add(source)
        return {
            "sources": [source.name for source in data.sources],
            "classes": data.classes,
            "test_source": {
                source.name: "Testing folder"
                if data.has_test_folder(source.name)
                else "stratified split by duplicate group"
                for source in data.sources
            },
            "counts": counts,
            "counts_by_source": by_source,
            "duplicates": {
                **self.duplicates,
                "groups_spanning_training_and_test": len(test_groups & pool_groups),
                "groups_with_conflicting_labels": sum(1 for labels in labels_by_group.values() if len(labels) > 1),
                "groups_spanning_sources": sum(1 for names in source_of_group.values() if len(names) > 1),
            },
            "test_images": int(is_test.sum()),
            "leak_free_test_images": int(self.leak_free.sum()),
            "unreadable": data.unreadable,
        }

    def validated_scope(self) -> dict:
        """What the model was trained and tested on, as far as the sources and file names say."""
        relative = [f.relative for f in self.data.files]
        used = self.names != EXCLUDED
        return {
            "sources": [source.name for source in self.data.sources],
            "sequences_named": dict(
                Counter(sequence_from_path(r) or "not named" for r, u in zip(relative, used, strict=True) if u)
            ),
            "planes_named": dict(
                Counter(plane_from_path(r) or "not named" for r, u in zip(relative, used, strict=True) if u)
            ),
        }

    def describe(self) -> str:
        summary = self.summary()
        return (
            f"splits: train {len(self.train)}, val {len(self.val)}, test {len(self.test)} "
            f"({summary['leak_free_test_images']} leak-free); {self.duplicates['exact_duplicate_groups']} exact and "
            f"{self.duplicates['duplicate_groups']} exact-or-near duplicate groups, "
            f"{summary['duplicates']['groups_spanning_sources']} spanning sources"
        )


def split_dataset(data: PreparedData, args) -> SplitData:
    """Group duplicates across all sources, then split per source (see train/splits.py)."""
    groups, duplicates = duplicate_groups(data.sha256, data.dhash, data.dhash_mirrored, args.near_duplicate_bits)
    is_given_test = np.array([f.origin == TEST_FOLDER for f in data.files], dtype=bool)
    names, leak_free, copy_of = assign_splits(
        data.labels,
        groups,
        is_given_test,
        data.sha256,
        args.val_fraction,
        args.test_fraction,
        args.seed,
        sources=data.source_names,
    )
    split = SplitData(data, names, leak_free, copy_of, groups, duplicates)
    if len(split.train) == 0:
        raise SystemExit("no training images left after splitting; check --data")
    return split
