import numpy as np
import pytest

from train.splits import EXCLUDED, TEST, TRAIN, VAL, assign_splits


def synthetic_groups(count: int, seed: int = 0):
    """Labels with a 2:3:4:3 class mix; many singletons plus duplicate groups of 2-6 images."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(4, size=count, p=[2 / 12, 3 / 12, 4 / 12, 3 / 12])
    groups = np.arange(count)
    for start in rng.choice(count - 6, size=count // 10, replace=False):
        size = int(rng.integers(2, 7))
        groups[start : start + size] = groups[start]
        labels[start : start + size] = labels[start]
    sha = [f"file-{i}" for i in range(count)]
    return labels, groups, sha


def assert_no_group_crosses(splits, groups, pair):
    first = set(groups[splits == pair[0]].tolist())
    second = set(groups[splits == pair[1]].tolist())
    assert not first & second, f"groups shared by {pair}"


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_carved_test_and_val_keep_groups_whole_and_classes_balanced(seed):
    labels, groups, sha = synthetic_groups(3000, seed)
    splits, leak_free, _ = assign_splits(labels, groups, np.zeros(3000, bool), sha, 0.15, 0.2, seed)
    for pair in [(TRAIN, VAL), (TRAIN, TEST), (VAL, TEST)]:
        assert_no_group_crosses(splits, groups, pair)
    overall = np.bincount(labels, minlength=4) / len(labels)
    for split, fraction in [(TEST, 0.2), (VAL, 0.15 * 0.8)]:
        members = splits == split
        assert abs(members.mean() - fraction) < 0.03
        assert np.abs(np.bincount(labels[members], minlength=4) / members.sum() - overall).max() < 0.03
    assert leak_free[splits == TEST].all()


def test_given_test_folder_is_kept_and_leaks_are_flagged():
    labels, groups, sha = synthetic_groups(1000)
    is_test = np.zeros(1000, bool)
    is_test[800:] = True
    groups[805] = groups[10]  # a test image with a copy in the training folder
    splits, leak_free, _ = assign_splits(labels, groups, is_test, sha, 0.15, 0.2, 0)
    assert (splits[is_test] == TEST).all() and not (splits[~is_test] == TEST).any()
    assert not leak_free[805] and splits[10] != VAL  # the copy trains; validation stays clean of test copies
    assert_no_group_crosses(splits, groups, (VAL, TEST))
    assert_no_group_crosses(splits, groups, (TRAIN, VAL))
    assert leak_free[is_test].sum() == sum(1 for i in range(800, 1000) if groups[i] not in set(groups[:800]))


def test_exact_copies_inside_training_are_kept_once():
    labels, groups, sha = synthetic_groups(200)
    groups[51] = groups[50]
    labels[51] = labels[50]
    sha[51] = sha[50]
    is_test = np.arange(200) >= 150
    splits, _, copy_of = assign_splits(labels, groups, is_test, sha, 0.15, 0.2, 0)
    assert splits[50] in (TRAIN, VAL) and splits[51] == EXCLUDED and copy_of[51] == 50
    assert (copy_of[splits != EXCLUDED] == -1).all()
