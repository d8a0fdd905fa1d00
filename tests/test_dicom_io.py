import logging
import warnings

import numpy as np
import pytest
from pydicom.uid import JPEGLossless

from core.io.dicom_io import MAX_VOXELS, Window, apply_window, auto_window, read_dicom
from core.io.image_io import UnreadableScanError
from tests.scan_files import ENHANCED_MR_IMAGE_STORAGE, PATIENT_VALUES, dicom_bytes, functional_group


def ramp(height=48, width=40, top=4000) -> np.ndarray:
    return np.linspace(0, top, height * width).reshape(height, width).astype(np.uint16)


def blocks(values: np.ndarray, side: int = 8) -> np.ndarray:
    """Each value as a side × side block: a few test values in an image large enough to be a scan."""
    return np.kron(values, np.ones((side, side), values.dtype))


def test_window_tags_are_the_default_window():
    scan = read_dicom(dicom_bytes(ramp(), window=(1000, 800)))
    assert scan.window == Window(1000.0, 800.0, "file")
    picture = scan.frame(0)
    expected = np.clip((ramp().astype(np.float32) - 600) / 800, 0, 1)
    np.testing.assert_allclose(picture, expected, atol=1e-6)


def test_several_suggested_windows_use_the_first():
    scan = read_dicom(dicom_bytes(ramp(), window=([1000, 40], [800, 80])))
    assert (scan.window.centre, scan.window.width) == (1000.0, 800.0)


def test_missing_window_tags_fall_back_to_an_automatic_window():
    values = ramp()
    scan = read_dicom(dicom_bytes(values))
    assert scan.window.source == "auto"
    low, high = np.percentile(values, [0.5, 99.5])
    assert scan.window.lower == pytest.approx(low) and scan.window.upper == pytest.approx(high)
    picture = scan.frame(0)
    assert picture.min() == 0.0 and picture.max() == 1.0


def test_zero_width_window_tag_is_ignored():
    assert read_dicom(dicom_bytes(ramp(), window=(100, 0))).window.source == "auto"


def test_user_window_overrides_the_file():
    scan = read_dicom(dicom_bytes(ramp(), window=(1000, 800)))
    narrow = scan.frame(0, Window(centre=2000, width=10))
    assert set(np.unique(narrow[:5])) <= {0.0} and narrow[-5:].min() == 1.0


def test_rescale_slope_and_intercept_give_modality_values():
    stored = blocks(np.array([[0, 10], [20, 4000]], np.int16))
    scan = read_dicom(dicom_bytes(stored, slope=2.5, intercept=-1024))
    np.testing.assert_allclose(scan.frames[0], stored * 2.5 - 1024)
    assert scan.value_range == (-1024.0, 8976.0)


def test_signed_pixels_are_read_as_signed():
    stored = blocks(np.array([[-500, 0], [250, 1000]], np.int16))
    np.testing.assert_array_equal(read_dicom(dicom_bytes(stored)).frames[0], stored)


def test_monochrome1_is_displayed_inverted():
    values = ramp()
    normal = read_dicom(dicom_bytes(values, window=(2000, 4000)))
    inverted = read_dicom(dicom_bytes(values, window=(2000, 4000), photometric="MONOCHROME1"))
    assert inverted.monochrome1 and not normal.monochrome1
    np.testing.assert_allclose(inverted.frame(0), 1.0 - normal.frame(0), atol=1e-6)


def test_multi_frame_gives_every_frame():
    frames = np.stack([np.full((16, 20), 100 * (k + 1), np.uint16) for k in range(5)])
    frames[:, 0, 0] = 0  # so the automatic window has a range
    scan = read_dicom(dicom_bytes(frames))
    assert scan.frame_count == 5 and scan.frames.shape == (5, 16, 20)
    assert [float(scan.frames[k, 5, 5]) for k in range(5)] == [100.0, 200.0, 300.0, 400.0, 500.0]
    with pytest.raises(IndexError):
        scan.frame(5)


def test_enhanced_multi_frame_reads_rescale_and_window_from_functional_groups():
    frames = np.stack([np.full((16, 16), 10, np.uint16), np.full((16, 16), 20, np.uint16)])
    shared = functional_group(FrameVOILUTSequence={"WindowCenter": 50, "WindowWidth": 40})
    per_frame = [
        functional_group(PixelValueTransformationSequence={"RescaleSlope": 1, "RescaleIntercept": 0}),
        functional_group(PixelValueTransformationSequence={"RescaleSlope": 3, "RescaleIntercept": 5}),
    ]
    data = dicom_bytes(
        frames,
        extra={
            "SOPClassUID": ENHANCED_MR_IMAGE_STORAGE,
            "SharedFunctionalGroupsSequence": [shared],
            "PerFrameFunctionalGroupsSequence": per_frame,
        },
    )
    scan = read_dicom(data)
    assert float(scan.frames[0, 0, 0]) == 10.0 and float(scan.frames[1, 0, 0]) == 65.0
    assert scan.window == Window(50.0, 40.0, "file")


def test_raw_dataset_without_preamble_needs_force():
    data = dicom_bytes(ramp(), preamble=False)
    with pytest.raises(UnreadableScanError):
        read_dicom(data)
    assert read_dicom(data, force=True).frames.shape == (1, 48, 40)


def test_patient_fields_never_leave_the_decoder(caplog):
    data = dicom_bytes(ramp(), window=(1000, 800), extra={"PatientAge": "not an age", "PatientSex": "QQ"})
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scan = read_dicom(data)
    said = " ".join([repr(scan), str(scan.window), scan.modality, *map(str, caught), caplog.text])
    for value in PATIENT_VALUES:
        assert value not in said
    assert not hasattr(scan, "dataset")


def test_file_without_pixel_data_is_a_clear_error():
    data = dicom_bytes(ramp())
    truncated_before_pixels = data[: data.rfind(b"\xe0\x7f\x10\x00")]
    with pytest.raises(UnreadableScanError, match=r"no pixel data|no image"):
        read_dicom(truncated_before_pixels)


def test_truncated_pixel_data_is_a_clear_error():
    data = dicom_bytes(ramp())
    with pytest.raises(UnreadableScanError) as caught:
        read_dicom(data[:-500])
    for value in PATIENT_VALUES:
        assert value not in str(caught.value)


def test_declared_size_beyond_the_limit_is_refused_before_decoding():
    side = int(MAX_VOXELS**0.5) + 10
    data = dicom_bytes(ramp(), extra={"Rows": side, "Columns": side})
    with pytest.raises(UnreadableScanError, match="limit"):
        read_dicom(data)


def test_compressed_pixel_data_without_a_decoder_says_so():
    data = dicom_bytes(ramp(), transfer_syntax=JPEGLossless)
    with pytest.raises(UnreadableScanError, match="compressed"):
        read_dicom(data)


def test_apply_window_and_auto_window_on_a_flat_image():
    flat = np.full((4, 4), 7.0, np.float32)
    window = auto_window(flat)
    assert window.width > 0
    assert np.all(apply_window(flat, window) == apply_window(flat, window)[0, 0])


def test_no_pydicom_log_record_is_passed_on(caplog):
    """pydicom's records can quote tag values. Its child loggers (pydicom.pixels.decoders.base, which logs
    every damaged RLE frame) propagate to the root handlers past a filter on the "pydicom" logger."""
    from tests.hostile_files import damaged_rle_dicom

    caplog.set_level(logging.DEBUG)
    with pytest.raises(UnreadableScanError, match="damaged"):
        read_dicom(damaged_rle_dicom())
    assert [record.name for record in caplog.records if record.name.startswith("pydicom")] == []
