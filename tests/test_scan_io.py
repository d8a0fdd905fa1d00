import io

import numpy as np
import pytest
from PIL import Image

from core.io.dicom_io import Window
from core.io.image_io import UnreadableScanError, read_image
from core.io.scan_io import DICOM, IMAGE, NIFTI, View, load_scan
from tests.disk_writes import recording_disk_writes
from tests.phantoms import phantom
from tests.scan_files import PATIENT_VALUES, dicom_bytes, marked_volume, nifti_bytes


def png_bytes(array: np.ndarray, format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=format)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    slice_ = phantom(3, "glioma", 64)
    volume, _ = marked_volume()
    frames = np.stack([slice_.astype(np.uint16) * k for k in (1, 2, 3)])
    return {
        "png": png_bytes(slice_),
        "tiff": png_bytes(slice_, "TIFF"),
        "bmp": png_bytes(slice_, "BMP"),
        "jpeg": png_bytes(slice_, "JPEG"),
        "dicom": dicom_bytes(frames, window=(300, 400)),
        "raw dicom": dicom_bytes(slice_.astype(np.uint16), preamble=False),
        "nifti": nifti_bytes(volume),
        "nifti.gz": nifti_bytes(volume, compress=True),
    }


@pytest.mark.parametrize(
    "key,name,kind",
    [
        ("png", "scan.dcm", IMAGE),  # names lie; content decides
        ("tiff", "scan.tif", IMAGE),
        ("bmp", "scan", IMAGE),
        ("jpeg", "scan.png", IMAGE),
        ("dicom", "IM000123", DICOM),
        ("dicom", "scan.jpg", DICOM),
        ("raw dicom", "IM1", DICOM),
        ("nifti", "brain.png", NIFTI),
        ("nifti.gz", "brain", NIFTI),
    ],
)
def test_content_decides_the_decoder(files, key, name, kind):
    scan = load_scan(files[key], name)
    assert scan.kind == kind and scan.name == name
    picture = scan.render()
    assert picture.ndim == 2 and picture.dtype == np.float32 and 0 <= picture.min() <= picture.max() <= 1


def test_plain_images_decode_exactly_as_image_io_does(files):
    np.testing.assert_array_equal(load_scan(files["png"], "a.png").render(), read_image(files["png"]))


def test_dicom_views_pick_frames_and_windows(files):
    scan = load_scan(files["dicom"], "IM1")
    assert scan.default_view() == View(frame=1)
    assert scan.describe(View(frame=2)) == "frame 3 of 3"
    np.testing.assert_array_equal(scan.render(View(frame=0)), scan.dicom.frame(0))
    wide = scan.render(View(frame=2, window=Window(5000, 10000)))
    assert wide.max() < 0.6  # a wide window makes the same frame darker
    assert scan.facts()["frames"] == "3" and scan.facts()["modality"] == "MR"


def test_nifti_views_pick_planes_and_slices(files):
    scan = load_scan(files["nifti.gz"], "brain.nii.gz")
    view = scan.default_view()
    assert view.plane == "axial" and view.index == 15
    assert scan.describe(view) == "axial slice 16 of 30"
    np.testing.assert_array_equal(scan.render(View(plane="coronal", index=3)), scan.volume.slice("coronal", 3))
    assert scan.facts()["voxels"] == "40×50×30"


def test_patient_fields_are_absent_from_everything_the_app_shows(files):
    scan = load_scan(files["dicom"], "IM1")
    shown = " ".join([repr(scan), scan.describe(), *scan.facts().keys(), *scan.facts().values()])
    for value in PATIENT_VALUES:
        assert value not in shown


@pytest.mark.parametrize(
    "data,message",
    [
        (b"", "empty"),
        (b"hello, this is a text file\n" * 20, "JPG, PNG, BMP, TIFF, DICOM"),
        (bytes(1000), "JPG, PNG"),
    ],
)
def test_unreadable_input_is_a_clear_error(data, message):
    with pytest.raises(UnreadableScanError, match=message):
        load_scan(data, "x")


def test_a_damaged_image_says_so_rather_than_listing_formats(files):
    with pytest.raises(UnreadableScanError, match=r"damaged|truncated"):
        load_scan(files["png"][: len(files["png"]) // 2], "cut.png")


def test_nothing_is_written_to_disk_while_decoding(files):
    with recording_disk_writes() as written:
        for data in files.values():
            scan = load_scan(data, "upload")
            scan.render()
    assert written == []


def test_the_disk_write_recorder_does_catch_writes(tmp_path):
    """The check above can fail: a write through tempfile is recorded."""
    import tempfile

    with recording_disk_writes() as written, tempfile.NamedTemporaryFile(dir=tmp_path) as handle:
        handle.write(b"x")
    assert written and str(tmp_path) in written[0]
