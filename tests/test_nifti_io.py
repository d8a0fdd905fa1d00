import gzip

import numpy as np
import pytest

from core.io.image_io import UnreadableScanError
from core.io.nifti_io import PLANES, gunzip, has_nifti_header, normalize_intensity, read_nifti
from tests.scan_files import marked_volume, nifti_bytes


def brightest_quadrant(picture: np.ndarray, threshold: float = 0.9) -> str:
    rows, columns = np.nonzero(picture >= threshold)
    assert len(rows), "marker not found"
    vertical = "top" if rows.mean() < picture.shape[0] / 2 else "bottom"
    horizontal = "left" if columns.mean() < picture.shape[1] / 2 else "right"
    return f"{vertical}-{horizontal}"


@pytest.fixture(scope="module")
def marked():
    return marked_volume()


@pytest.mark.parametrize("plane,axis", [("sagittal", 0), ("coronal", 1), ("axial", 2)])
def test_every_plane_is_drawn_in_radiological_orientation(marked, plane, axis):
    """Right-anterior-superior lands top-left in every plane; left-posterior-inferior bottom-right."""
    volume, markers = marked
    scan = read_nifti(nifti_bytes(volume))
    assert scan.slice_count(plane) == volume.shape[axis]
    assert brightest_quadrant(scan.slice(plane, markers["RAS"][axis])) == "top-left"
    assert brightest_quadrant(scan.slice(plane, markers["LPI"][axis])) == "bottom-right"


def test_storage_order_does_not_change_the_picture(marked):
    """The same anatomy stored left-posterior-superior (flipped x and y, as DICOM-derived files often are)."""
    volume, _ = marked
    flipped = np.ascontiguousarray(volume[::-1, ::-1, :])
    x, y, _ = volume.shape
    lps = np.array([[-1, 0, 0, x - 1], [0, -1, 0, y - 1], [0, 0, 1, 0], [0, 0, 0, 1]], float)
    ras, stored_lps = read_nifti(nifti_bytes(volume)), read_nifti(nifti_bytes(flipped, lps))
    for plane in PLANES:
        index = ras.middle(plane)
        np.testing.assert_allclose(ras.slice(plane, index), stored_lps.slice(plane, index))


def test_axes_stored_in_another_order_are_reoriented(marked):
    volume, markers = marked
    swapped = np.ascontiguousarray(volume.transpose(2, 0, 1))  # stored z, x, y
    affine = np.zeros((4, 4))
    affine[0, 1] = affine[1, 2] = affine[2, 0] = affine[3, 3] = 1.0
    scan = read_nifti(nifti_bytes(swapped, affine))
    assert scan.shape == volume.shape
    assert brightest_quadrant(scan.slice("axial", markers["RAS"][2])) == "top-left"


def test_gzip_compressed_file_reads_the_same(marked):
    volume, _ = marked
    plain, packed = read_nifti(nifti_bytes(volume)), read_nifti(nifti_bytes(volume, compress=True))
    np.testing.assert_array_equal(plain.data, packed.data)


def test_nifti2_is_read(marked):
    volume, _ = marked
    np.testing.assert_array_equal(read_nifti(nifti_bytes(volume, version=2)).data, read_nifti(nifti_bytes(volume)).data)


def test_thick_slices_are_resampled_to_square_pixels():
    volume = np.random.default_rng(0).random((64, 64, 20)).astype(np.float32)
    affine = np.diag([1.0, 1.0, 4.0, 1.0])  # 1 mm in-plane, 4 mm slices
    scan = read_nifti(nifti_bytes(volume, affine))
    assert scan.zooms == (1.0, 1.0, 4.0)
    assert scan.slice("axial", 10).shape == (64, 64)
    assert scan.slice("coronal", 10).shape == (80, 64)  # 20 slices × 4 mm tall, 64 × 1 mm wide
    assert scan.slice("sagittal", 10).shape == (80, 64)


def test_intensities_map_to_unit_range_with_one_window_per_volume(marked):
    volume, _ = marked
    scan = read_nifti(nifti_bytes(volume * 37.0 + 5.0))
    assert scan.data.min() == 0.0 and scan.data.max() == 1.0
    # the dim box is one gray in every slice (one window for the volume, not one per slice)
    box = scan.data[(scan.data > 0.01) & (scan.data < 0.5)]
    assert box.size > 1000 and np.ptp(box) < 1e-6 and box[0] == pytest.approx(0.1, abs=1e-4)
    assert not normalize_intensity(np.full((4, 4, 4), 3.0)).any()


def test_four_dimensional_file_shows_its_first_volume(marked):
    volume, _ = marked
    series = np.stack([volume, np.zeros_like(volume), volume * 2], axis=-1)
    scan = read_nifti(nifti_bytes(series))
    assert scan.shape == volume.shape and "3 volumes" in scan.note
    np.testing.assert_array_equal(scan.data, read_nifti(nifti_bytes(volume)).data)


def test_single_slice_file_offers_only_its_own_plane():
    picture = np.random.default_rng(1).random((64, 48, 1)).astype(np.float32)
    scan = read_nifti(nifti_bytes(picture))
    assert scan.planes == ["axial"] and scan.slice_count("axial") == 1
    assert scan.slice("axial", 0).shape == (48, 64)


def test_slice_index_out_of_range_and_unknown_plane(marked):
    scan = read_nifti(nifti_bytes(marked[0]))
    with pytest.raises(IndexError):
        scan.slice("axial", scan.slice_count("axial"))
    with pytest.raises(ValueError, match="axial"):
        scan.slice("oblique", 0)


def test_damaged_files_are_clear_errors(marked):
    data = nifti_bytes(marked[0])
    with pytest.raises(UnreadableScanError, match=r"damaged|truncated"):
        read_nifti(data[: len(data) // 2])
    with pytest.raises(UnreadableScanError, match="damaged"):
        read_nifti(nifti_bytes(marked[0], compress=True)[:-200] + b"\x00" * 10)
    with pytest.raises(UnreadableScanError, match="gzip-compressed file that holds no NIfTI volume"):
        read_nifti(gzip.compress(b"just some text that was gzipped" * 20))


def test_decompression_bomb_is_refused():
    bomb = gzip.compress(bytes(5_000_000))
    with pytest.raises(UnreadableScanError, match="expands"):
        gunzip(bomb, limit=1_000_000)
    assert len(gunzip(bomb, limit=6_000_000)) == 5_000_000


def test_header_detection(marked):
    data = nifti_bytes(marked[0])
    assert has_nifti_header(data) and has_nifti_header(nifti_bytes(marked[0], version=2))
    assert not has_nifti_header(b"\x89PNG\r\n\x1a\n" + bytes(400))
    assert not has_nifti_header(data[:100])


def test_header_text_is_not_exposed(marked):
    scan = read_nifti(nifti_bytes(marked[0]))
    assert "DOE" not in repr(scan) and "DOE" not in scan.note
