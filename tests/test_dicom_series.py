import random

import numpy as np
import pytest

from core.io.dicom_io import read_dicom
from core.io.dicom_series import BY_INSTANCE, BY_POSITION, BY_UPLOAD, group_series
from tests.scan_files import dicom_bytes, dicom_series

SAGITTAL = (0, 1, 0, 0, 0, -1)


def slices(count: int) -> list[np.ndarray]:
    """Slice i is filled with the value 10 * (i + 1), so a decoded slice tells where it belongs."""
    return [np.full((24, 24), 10 * (i + 1), np.uint16) for i in range(count)]


def decoded(files: list[bytes], names: list[str]) -> list[tuple[str, object]]:
    return [(name, read_dicom(data)) for name, data in zip(names, files, strict=True)]


def true_order(series, items) -> list[int]:
    """The slice numbers (1-based) of the series' files, in the order the series puts them."""
    scans = dict(items)
    return [int(scans[key].frames[0, 0, 0]) // 10 for key in series.keys]


@pytest.mark.parametrize(
    ("orientation", "plane"), [((1, 0, 0, 0, 1, 0), "axial"), ((1, 0, 0, 0, 0, -1), "coronal"), (SAGITTAL, "sagittal")]
)
def test_shuffled_files_are_put_back_in_order_along_the_slice_normal(orientation, plane):
    files = dicom_series(slices(12), orientation=orientation)
    shuffled = list(range(12))
    random.Random(3).shuffle(shuffled)
    items = decoded([files[i] for i in shuffled], [f"f{i}.dcm" for i in shuffled])
    [series] = group_series(items)
    assert series.ordered_by == BY_POSITION and not series.notes
    assert true_order(series, items) == list(range(1, 13))
    assert series.acquisition.plane == plane


def test_position_wins_over_instance_numbers_that_count_the_other_way():
    files = dicom_series(slices(6))
    renumbered = [
        read_dicom(dicom_bytes(np.full((24, 24), 10 * (i + 1), np.uint16), extra=tags))
        for i, tags in enumerate(_tags_of(files, instance_numbers=[6, 5, 4, 3, 2, 1]))
    ]
    items = list(zip([f"f{i}" for i in range(6)], renumbered, strict=True))[::-1]
    [series] = group_series(items)
    assert series.ordered_by == BY_POSITION and true_order(series, items) == [1, 2, 3, 4, 5, 6]


def test_missing_positions_fall_back_to_instance_numbers_then_to_upload_order():
    count = 8
    shuffled = [3, 0, 7, 5, 1, 6, 2, 4]
    with_numbers = _rebuilt(count, drop_position_of={2, 5})
    items = [(f"f{i}", with_numbers[i]) for i in shuffled]
    [series] = group_series(items)
    assert series.ordered_by == BY_INSTANCE and true_order(series, items) == list(range(1, count + 1))
    assert series.notes == ("Ordered by instance number: 2 of 8 slices have no position.",)

    bare = _rebuilt(count, drop_position_of=set(range(count)), drop_number_of={1})
    items = [(f"f{i}", bare[i]) for i in shuffled]
    [series] = group_series(items)
    assert series.ordered_by == BY_UPLOAD and true_order(series, items) == [i + 1 for i in shuffled]
    assert "not known from the files (8 of 8 slices have no position, and 1 have no instance number)" in series.notes[0]


def test_two_series_of_two_studies_are_told_apart_and_stray_files_are_left_out():
    first, second = dicom_series(slices(4)), dicom_series(slices(3), orientation=SAGITTAL)
    loose = read_dicom(dicom_bytes(np.full((24, 24), 10, np.uint16)))  # no UIDs at all
    multi_frame = read_dicom(dicom_bytes(np.full((3, 24, 24), 10, np.uint16), extra={"SeriesInstanceUID": "1.2.3"}))
    items = [("a1", read_dicom(first[1])), ("b2", read_dicom(second[2])), ("loose", loose), ("multi", multi_frame)]
    items += [("a0", read_dicom(first[0])), ("b0", read_dicom(second[0])), ("a3", read_dicom(first[3]))]
    items += [("b1", read_dicom(second[1])), ("a2", read_dicom(first[2]))]
    series = group_series(items)
    assert [s.keys for s in series] == [("a0", "a1", "a2", "a3"), ("b0", "b1", "b2")]
    assert series[0].study_uid != series[1].study_uid
    assert series[0].title() == "Series 4: axial, 4 slices" and series[1].title() == "Series 4: sagittal, 3 slices"


def test_repeated_positions_and_mixed_orientations_are_noted():
    files = dicom_series(slices(3))
    items = [("a", read_dicom(files[0])), ("b", read_dicom(files[1])), ("b again", read_dicom(files[1]))]
    [series] = group_series(items)
    assert series.keys == ("a", "b", "b again") and "1 slice shares a position" in series.notes[0]

    tags = _tags_of(files)
    tags[1]["ImageOrientationPatient"] = list(SAGITTAL)
    mixed = [read_dicom(dicom_bytes(np.full((24, 24), 10 * (i + 1), np.uint16), extra=t)) for i, t in enumerate(tags)]
    [series] = group_series([(str(i), scan) for i, scan in enumerate(mixed)][::-1])
    assert series.ordered_by == BY_INSTANCE and series.keys == ("0", "1", "2")
    assert series.notes[0].startswith("The slices are not all in one orientation")


def _tags_of(files: list[bytes], instance_numbers: list[int] | None = None) -> list[dict]:
    """The grouping tags of `files`, to rebuild them with changes."""
    tags = []
    for index, data in enumerate(files):
        place = read_dicom(data).place
        tags.append(
            {
                "StudyInstanceUID": place.study_uid,
                "SeriesInstanceUID": place.series_uid,
                "InstanceNumber": instance_numbers[index] if instance_numbers else place.instance_number,
                "ImagePositionPatient": list(place.position),
                "ImageOrientationPatient": list(place.orientation),
            }
        )
    return tags


def _rebuilt(count: int, drop_position_of: set[int], drop_number_of: frozenset | set = frozenset()) -> list:
    tags = _tags_of(dicom_series(slices(count)))
    scans = []
    for index, values in enumerate(tags):
        if index in drop_position_of:
            values["ImagePositionPatient"] = None
        if index in drop_number_of:
            values["InstanceNumber"] = None
        scans.append(read_dicom(dicom_bytes(np.full((24, 24), 10 * (index + 1), np.uint16), extra=values)))
    return scans
