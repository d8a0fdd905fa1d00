"""Find exact and near-duplicate images and join them into groups that no split may divide.

Exact copies share a sha256 of their bytes; near copies share a difference hash up to a small Hamming
distance (core/run/training_copies.py: the hashes, and why 10 bits). Grouping them keeps near copies out of the
held-out sets.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from core.run.training_copies import NEAR_DUPLICATE_BITS, hamming_distances

_CHUNK = 256


def near_duplicate_pairs(dhash: np.ndarray, dhash_mirrored: np.ndarray, max_bits: int) -> np.ndarray:
    """(K, 2) index pairs i < j whose hashes (either orientation) differ in at most `max_bits` bits."""
    pairs = []
    for start in range(0, len(dhash), _CHUNK):
        block = dhash[start : start + _CHUNK]
        distance = np.minimum(hamming_distances(block, dhash), hamming_distances(block, dhash_mirrored))
        rows, cols = np.nonzero(distance <= max_bits)
        rows = rows + start
        keep = rows < cols
        pairs.append(np.stack([rows[keep], cols[keep]], axis=1))
    return np.concatenate(pairs) if pairs else np.zeros((0, 2), dtype=np.int64)


def duplicate_groups(
    sha256: list[str], dhash: np.ndarray, dhash_mirrored: np.ndarray, max_bits: int = NEAR_DUPLICATE_BITS
) -> tuple[np.ndarray, dict]:
    """A group id per image (connected components of exact and near matches) and counts for the report."""
    count = len(sha256)
    by_content: dict[str, list[int]] = defaultdict(list)
    for index, digest in enumerate(sha256):
        by_content[digest].append(index)
    exact_groups = [members for members in by_content.values() if len(members) > 1]
    exact_pairs = [(members[0], other) for members in exact_groups for other in members[1:]]
    near_pairs = near_duplicate_pairs(dhash, dhash_mirrored, max_bits)
    edges = np.concatenate([np.array(exact_pairs, dtype=np.int64).reshape(-1, 2), near_pairs])
    graph = coo_matrix((np.ones(len(edges)), (edges[:, 0], edges[:, 1])), shape=(count, count))
    _, groups = connected_components(graph, directed=False)
    sizes = np.bincount(groups, minlength=1)
    summary = {
        "near_duplicate_max_bits": max_bits,
        "exact_duplicate_groups": len(exact_groups),
        "exact_duplicate_files": sum(len(members) for members in exact_groups),
        "duplicate_groups": int((sizes > 1).sum()),
        "files_in_duplicate_groups": int(sizes[sizes > 1].sum()),
        "largest_group": int(sizes.max()) if count else 0,
    }
    return groups.astype(np.int64), summary
