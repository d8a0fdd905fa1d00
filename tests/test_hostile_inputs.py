"""Broken, hostile and odd files: each gets its own message (or decodes), and the rest of a batch goes on.

Checked where users meet them: `load_scan` (what the app calls on every upload), the batch CLI, and the
Classify page (a batch of them, and the server-side upload limit).
"""

import csv
import io
import os
import re
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit import config as streamlit_config

import cli.predict_files
import core.decide.assessment
import core.io.dicom_io
import core.io.nifti_io
from cli.predict import main
from cli.predict_files import classify_files, expand_paths
from core.decide.layout import count_slices
from core.io.image_io import MIN_SIDE, UnreadableScanError, UnsupportedFormatError
from core.io.scan_io import DICOM, IMAGE, NIFTI, View, load_scan
from core.model.inference import Classifier
from tests import peak_memory
from tests.apptest import serve, start, upload
from tests.hostile_files import (
    DECODED,
    REFUSED,
    SLICE,
    dicom_compressed_as,
    dicom_deflate_bomb,
    encoded,
    frames,
    montage,
    png_declaring,
    transparent_rgba,
    undecodable_syntax,
)
from tests.phantoms import phantom
from tests.scan_files import PATIENT_VALUES, dicom_bytes, marked_volume, nifti_bytes

MB = 1024 * 1024


def by_name(cases):
    return pytest.mark.parametrize("case", cases, ids=[case.name for case in cases])


@pytest.fixture
def small_inflate_limit(monkeypatch):
    """A 1 MB bound on inflating deflated DICOM, so a bomb that crosses it is a few kB to build."""
    monkeypatch.setattr(core.io.dicom_io, "MAX_INFLATED_BYTES", MB)


# ---- load_scan: what the app does with every upload ------------------------------------------------------


@by_name(REFUSED)
def test_each_broken_file_is_refused_with_its_own_message(case):
    with pytest.raises(UnreadableScanError, match=case.expect) as refused:
        load_scan(case.build(), case.name)
    for value in PATIENT_VALUES:  # the DICOM ones carry patient fields; a message never quotes them
        assert value not in str(refused.value)


PYTHON_EXCEPTION_NAME = re.compile(r"\b[A-Z]\w*(Error|Exception|Warning)\b|\(\w+Error\)")


@by_name(REFUSED)
def test_no_message_names_a_python_exception(case):
    with pytest.raises(UnreadableScanError) as refused:
        load_scan(case.build(), case.name)
    assert not PYTHON_EXCEPTION_NAME.search(str(refused.value)), str(refused.value)


@pytest.mark.parametrize("name", ["notes.jpg", "letter.jpg", "series.jpg"])
def test_files_that_are_not_images_are_typed_as_unsupported(name):
    case = next(case for case in REFUSED if case.name == name)
    with pytest.raises(UnsupportedFormatError):
        load_scan(case.build(), name)


@by_name(DECODED)
def test_odd_but_valid_files_decode(case):
    scan = load_scan(case.build(), case.name)
    picture = scan.render()
    assert picture.dtype == np.float32 and picture.ndim == 2 and min(picture.shape) >= MIN_SIDE
    assert 0.0 <= picture.min() <= picture.max() <= 1.0 and np.isfinite(picture).all()
    assert scan.facts().get("note", "") == case.expect


@by_name([case for case in DECODED if case.name.endswith((".png", ".jpg", ".bmp"))])
def test_every_pixel_layout_keeps_the_picture(case):
    """16-bit, CMYK, RGBA, palette, gray + alpha, alpha that is 0 everywhere (which says nothing, so the
    colour is used, not black), 32-bit BMP: the same slice comes out as gray."""
    picture = load_scan(case.build(), case.name).render()
    assert picture.shape == SLICE.shape
    assert np.corrcoef(picture.ravel(), SLICE.ravel())[0, 1] > 0.98


@pytest.mark.parametrize("fmt", ["GIF", "TIFF"])
def test_animated_gif_and_multipage_tiff_read_their_first_frame_and_say_so(fmt):
    scan = load_scan(frames(fmt), "series")
    first_alone = load_scan(encoded(Image.fromarray(phantom(21, "glioma", 64)), fmt), "first")
    assert scan.kind == IMAGE
    np.testing.assert_array_equal(scan.render(), first_alone.render())
    assert scan.describe() == "frame 1 of 3"
    assert "only the first is read" in scan.facts()["note"]
    assert first_alone.describe() == "" and "note" not in first_alone.facts()


def test_a_transparent_region_still_composites_on_black():
    """Where alpha does vary, it is meaningful: transparent pixels are background, and MRI background is black."""
    rgba = np.asarray(transparent_rgba(SLICE)).copy()
    rgba[:, 32:, 3] = 255  # the right half opaque, the left half transparent
    picture = load_scan(encoded(Image.fromarray(rgba, "RGBA"), "PNG"), "half.png").render()
    assert picture[:, :32].max() == 0.0
    np.testing.assert_allclose(picture[:, 32:], SLICE[:, 32:] / 255.0, atol=1 / 255)


@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_orientation_is_applied(orientation):
    """A camera or phone stores the pixels as the sensor saw them and says how to turn them in EXIF; every
    viewer turns them, so the model must see what the clinician sees."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored = Image.fromarray(SLICE[:, 8:])  # not square, so a turn shows in the shape too
    turned = load_scan(encoded(stored, "JPEG", quality=95, exif=exif.tobytes()), "photo.jpg").render()
    plain = load_scan(encoded(stored, "JPEG", quality=95), "plain.jpg").render()
    turns = {3: 2, 6: -1, 8: 1}[orientation]  # 6: rotate 90° clockwise to display; 8: counter-clockwise
    np.testing.assert_allclose(turned, np.rot90(plain, turns), atol=2 / 255)


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_one_hot_pixel_does_not_darken_a_16_bit_picture(fmt):
    """12-bit data in a 16-bit file (common) with one saturated pixel: scaled by min/max it is all but
    black; scaled by robust percentiles, as the DICOM automatic window does, it is the slice."""
    stored = SLICE.astype(np.uint16) * 16
    stored[0, 0] = 65535
    picture = load_scan(encoded(Image.fromarray(stored), fmt), f"slice.{fmt.lower()}").render()
    np.testing.assert_allclose(picture[1:, 1:], SLICE[1:, 1:] / SLICE.max(), atol=0.03)


def test_a_picture_exactly_the_minimum_size_is_a_scan():
    assert load_scan(encoded(Image.new("L", (MIN_SIDE, MIN_SIDE), 90), "PNG"), "small.png").render().shape == (16, 16)
    with pytest.raises(UnreadableScanError, match="too small"):
        load_scan(encoded(Image.new("L", (MIN_SIDE, MIN_SIDE - 1), 90), "PNG"), "smaller.png")


@pytest.mark.parametrize(("width", "height"), [(20_000, 20_000), (100_000, 100_000), (8_000, 6_000), (50_000, 16)])
def test_enormous_declared_sizes_are_refused_before_decoding(width, height):
    """A few hundred bytes that declare up to 10^10 pixels: refused with the limit, and nothing allocated."""
    if not peak_memory.available():
        pytest.skip("the kernel's peak-memory counter (/proc/self/clear_refs) is not available here")
    data = png_declaring(width, height)
    assert len(data) < 2_000
    with peak_memory.peak_memory() as peak, pytest.raises(UnreadableScanError, match="limit of 4,096 pixels a side"):
        load_scan(data, "huge.png")
    assert peak.growth < 16 * MB, f"{peak.growth / MB:.0f} MB for a refused file"  # decoding: 48 MB to 10 GB


def test_compressed_dicom_without_a_decoder_names_its_transfer_syntax():
    syntax = undecodable_syntax()
    if syntax is None:
        pytest.skip("every plugin-decoded transfer syntax has its plugin installed here")
    with pytest.raises(UnreadableScanError) as refused:
        load_scan(dicom_compressed_as(syntax), "IM0001")
    assert str(refused.value) == (
        f"This DICOM file's pixel data is compressed as {syntax.name}, which this installation cannot decode. "
        "Export the series uncompressed, or as PNG."
    )


def test_deflated_dicom_decodes_and_a_deflate_bomb_is_refused(small_inflate_limit):
    from pydicom.uid import DeflatedExplicitVRLittleEndian

    stored = SLICE.astype(np.uint16) * 16
    deflated = load_scan(dicom_bytes(stored, transfer_syntax=DeflatedExplicitVRLittleEndian), "IM1")
    assert deflated.kind == DICOM
    np.testing.assert_array_equal(deflated.dicom.frames[0], stored)
    bomb = dicom_deflate_bomb(8 * MB)
    assert len(bomb) < 20_000  # pydicom alone would inflate all of it, whatever its size
    with pytest.raises(UnreadableScanError, match=r"expands to more than 1,048,576 bytes"):
        load_scan(bomb, "IM2")


@pytest.mark.parametrize("what_follows", ["zeros", "meta then zeros"])
def test_a_dicom_header_followed_by_zeros_is_refused_quickly(what_follows):
    """Parsing is bounded by the file's structure: nothing that can be a data element follows, so parsing
    stops, whatever the file's size (it took 0.7 s a megabyte: 36 s at the 50 MB upload limit)."""
    good = dicom_bytes(SLICE.astype(np.uint16))
    meta_end = good.index(b"\x08\x00", 132)  # the first group-0008 element: the dataset after the file meta
    head = bytes(128) + b"DICM" if what_follows == "zeros" else good[:meta_end]
    started = time.perf_counter()
    with pytest.raises(UnreadableScanError) as refused:
        load_scan(head + bytes(16 * MB), "IM0001")
    assert time.perf_counter() - started < 1.0
    assert str(refused.value) == (
        "This file starts like a DICOM file, but no DICOM data follows its header, so it holds no scan."
    )


def test_zeros_inside_a_dicom_dataset_stop_the_parser():
    """A run of zeros between two elements reads as a chain of (0000,0000) elements: parsed one by one, a
    megabyte of them took 20 s, and the file then decoded as if nothing were wrong."""
    good = dicom_bytes(SLICE.astype(np.uint16))
    pixels_at = good.rfind(b"\xe0\x7f\x10\x00")  # the (7FE0,0010) Pixel Data tag
    started = time.perf_counter()
    with pytest.raises(UnreadableScanError) as refused:
        load_scan(good[:pixels_at] + bytes(MB) + good[pixels_at:], "IM0001")
    assert time.perf_counter() - started < 1.0
    assert str(refused.value) == (
        "This DICOM file is damaged: a run of data that is not DICOM (zeros, say) interrupts it, so it cannot be "
        "read. Copy or export it again."
    )


def test_two_dimensional_nifti_is_read_as_one_slice():
    scan = load_scan(nifti_bytes(SLICE.astype(np.float32)), "slice.nii")
    assert scan.kind == NIFTI and scan.volume.planes == ["axial"] and scan.facts()["voxels"] == "64×64×1"
    # NIfTI's first axis runs left to right: the slice is drawn transposed, the patient's right on the left.
    np.testing.assert_allclose(scan.render(), (SLICE.T[::-1, ::-1] / SLICE.max()).astype(np.float32), atol=0.02)


def test_four_dimensional_nifti_reads_its_first_volume_and_says_so():
    volume, _ = marked_volume()
    series = load_scan(nifti_bytes(np.stack([volume, volume[::-1] * 3], axis=-1)), "fmri.nii")
    single = load_scan(nifti_bytes(volume), "t1.nii")
    np.testing.assert_array_equal(series.render(), single.render())
    assert series.facts()["note"] == "the file holds 2 volumes; the first is shown"


def thick_slab(shape: tuple[int, int, int], zooms=(1.0, 1.0, 1.0)) -> bytes:
    """A NIfTI of a brain-like phantom slice repeated along the axis with the fewest voxels."""
    axis = int(np.argmin(shape))
    others = [side for a, side in enumerate(shape) if a != axis]
    picture = np.asarray(Image.fromarray(phantom(3, "glioma", 64)).resize(others[::-1]), dtype=np.float32)
    volume = np.repeat(np.expand_dims(picture, axis), shape[axis], axis=axis)
    return nifti_bytes(volume, np.diag([*zooms, 1.0]))


@pytest.mark.parametrize(
    ("shape", "zooms", "plane"),
    [
        ((20, 64, 64), (1.0, 1.0, 1.0), "sagittal"),  # few slices along x: a sagittal acquisition
        ((64, 20, 64), (1.0, 1.0, 1.0), "coronal"),
        ((64, 64, 20), (1.0, 1.0, 1.0), "axial"),
        ((48, 64, 64), (4.0, 1.0, 1.0), "sagittal"),  # thick sagittal slices, the header says so
        ((64, 64, 64), (1.0, 1.0, 1.0), "axial"),  # isotropic (a 3-D acquisition): axial
    ],
)
def test_nifti_opens_in_its_acquisition_plane(shape, zooms, plane):
    """A 20-slice sagittal series opened axially is a 20-pixel-high strip, which is refused or misread."""
    scan = load_scan(thick_slab(shape, zooms), "series.nii")
    assert scan.default_view().plane == plane
    assert min(scan.render().shape) >= 48


def test_nifti_planes_need_the_same_minimum_side_as_pictures():
    scan = load_scan(thick_slab((12, 64, 64)), "sagittal.nii")
    assert scan.volume.planes == ["sagittal"]  # axial and coronal slices would be 12 pixels high


def test_the_cli_keeps_what_the_reader_should_know_about_a_file(tmp_path, tiny_weights, capsys):
    volume, _ = marked_volume()
    (tmp_path / "fmri.nii").write_bytes(nifti_bytes(np.stack([volume, volume], axis=-1)))
    main([str(tmp_path), "--weights", str(tiny_weights), "--device", "cpu"])
    (row,) = csv.DictReader(io.StringIO(capsys.readouterr().out))
    assert row["status"] != "error" and row["message"].startswith("The file holds 2 volumes; the first is shown.")
    assert row["view"] == "axial slice 16 of 30"


def test_nifti_with_implausible_voxel_sizes_is_drawn_square_and_says_so():
    """A header claiming 1 mm by 1 km voxels would stretch a 30-slice coronal view to 30 million pixels."""
    volume, _ = marked_volume()
    scan = load_scan(nifti_bytes(volume, np.diag([1.0, 1.0, 1e6, 1.0])), "odd.nii")
    assert "voxel sizes (1 × 1 × 1e+06 mm) are implausible" in scan.facts()["note"]
    assert scan.render(View(plane="coronal", index=10)).shape == (30, 40)


# ---- the batch CLI -----------------------------------------------------------------------------------------


@pytest.fixture
def hostile_folder(tmp_path, small_inflate_limit) -> tuple[Path, dict[str, str]]:
    """Every hostile file, the odd-but-valid ones and two good scans (PNG, DICOM) in one folder, with the
    message each refused file must get ("" for the ones to classify)."""
    folder = tmp_path / "scans"
    folder.mkdir()
    expected: dict[str, str] = {}
    for case in REFUSED:
        (folder / case.name).write_bytes(case.build())
        expected[case.name] = case.expect
    for case in DECODED:
        (folder / case.name).write_bytes(case.build())
        expected[case.name] = ""
    (folder / "deflate_bomb.dcm").write_bytes(dicom_deflate_bomb(8 * MB))
    expected["deflate_bomb.dcm"] = "expands to more than"
    if (syntax := undecodable_syntax()) is not None:
        (folder / "jpeg_ls.dcm").write_bytes(dicom_compressed_as(syntax))
        expected["jpeg_ls.dcm"] = f"compressed as {re.escape(syntax.name)}, which this installation cannot decode"
    (folder / "good.png").write_bytes(encoded(Image.fromarray(phantom(5, "glioma", 96)), "PNG"))
    (folder / "IM0001").write_bytes(dicom_bytes(phantom(6, "notumor", 96).astype(np.uint16) * 8))
    expected["good.png"] = expected["IM0001"] = ""
    return folder, expected


def test_batch_cli_reports_every_hostile_file_and_classifies_the_rest(hostile_folder, tiny_weights, capsys):
    folder, expected = hostile_folder
    assert main([str(folder), "--weights", str(tiny_weights), "--device", "cpu"]) == 1  # some files failed
    rows = {Path(row["path"]).name: row for row in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert set(rows) == set(expected)
    for name, message in expected.items():
        row = rows[name]
        if message:
            assert row["status"] == "error" and re.search(message, row["message"]), (name, row["message"])
            assert row["prediction"] == row["p_glioma"] == ""
        else:  # classified (the status may still withhold a class: uncertain, not an MRI)
            assert row["status"] != "error", (name, row["message"])
            assert abs(sum(float(row[f"p_{c}"]) for c in Classifier(tiny_weights, "cpu").classes) - 1) < 1e-3


def test_batch_cli_turns_unreadable_paths_into_error_rows(tmp_path, tiny_weights):
    good = tmp_path / "good.png"
    good.write_bytes(encoded(Image.fromarray(phantom(5, "glioma", 96)), "PNG"))
    locked = tmp_path / "locked.png"
    locked.write_bytes(good.read_bytes())
    locked.chmod(0)
    paths = [tmp_path / "missing.png", tmp_path, good]
    results = {Path(r.name).name: r for r in classify_files(Classifier(tiny_weights, "cpu"), [*paths, locked])}
    assert results["missing.png"].status == "error" and results["missing.png"].message == "No such file or directory"
    assert results[tmp_path.name].status == "error" and results[tmp_path.name].message == "Is a directory"
    assert results["good.png"].status != "error"
    if os.geteuid() != 0:  # root reads any file: permission cannot be refused to it
        assert results["locked.png"].status == "error" and results["locked.png"].message == "Permission denied"


@pytest.fixture
def failing_nifti_slicer(monkeypatch):
    """A fault no decoder anticipates, in the last decoding step (cutting a NIfTI slice): stands for any
    library raising a type nobody expected."""

    def fail(*args, **kwargs):
        raise ZeroDivisionError("integer division or modulo by zero")

    monkeypatch.setattr(core.io.nifti_io.NiftiVolume, "slice", fail)


GOOD_PNG = ("good.png", lambda: encoded(Image.fromarray(phantom(5, "glioma", 96)), "PNG"))
UNEXPECTED_FAILURE = re.compile(r"^This file could not be read: its content is damaged or in a form this app does not")


def test_an_unexpected_failure_in_any_decoding_step_stays_with_its_file(
    failing_nifti_slicer, tmp_path, tiny_weights, capsys
):
    (tmp_path / "volume.nii").write_bytes(nifti_bytes(marked_volume()[0]))
    (tmp_path / GOOD_PNG[0]).write_bytes(GOOD_PNG[1]())
    assert main([str(tmp_path), "--weights", str(tiny_weights), "--device", "cpu"]) == 1
    rows = {Path(row["path"]).name: row for row in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    assert rows["volume.nii"]["status"] == "error" and UNEXPECTED_FAILURE.search(rows["volume.nii"]["message"])
    assert "ZeroDivisionError" not in rows["volume.nii"]["message"]
    assert rows["good.png"]["status"] != "error"


def classify_within(seconds: float, classifier, paths) -> dict:
    """classify_files in a thread: a reader that blocks (a FIFO with no writer) fails the test instead of
    hanging it. Returns {file name: result}."""
    done: dict = {}
    worker = threading.Thread(
        target=lambda: done.update({Path(r.name).name: r for r in classify_files(classifier, paths)})
    )
    worker.start()
    worker.join(seconds)
    if worker.is_alive():  # unblock the reader so the test run can end, then fail
        for path in paths:
            if path.is_fifo():
                os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        worker.join(10)
        pytest.fail(f"classifying {[p.name for p in paths]} did not end within {seconds} s")
    return done


def test_special_files_are_not_read(tmp_path, tiny_weights):
    """A FIFO would block the reader for ever, /dev/zero would be read until memory runs out."""
    pipe = tmp_path / "IM0001.dcm"
    os.mkfifo(pipe)
    (tmp_path / GOOD_PNG[0]).write_bytes(GOOD_PNG[1]())
    results = classify_within(30, Classifier(tiny_weights, "cpu"), [pipe, Path("/dev/zero"), tmp_path / GOOD_PNG[0]])
    assert results["IM0001.dcm"].status == "error"
    assert results["IM0001.dcm"].message == "This is a named pipe (FIFO), not a file, so it was not read."
    assert results["zero"].message == "This is a device, not a file, so it was not read."
    assert results["good.png"].status != "error"


def test_a_file_larger_than_any_scan_is_refused_before_it_is_read(tmp_path, tiny_weights, monkeypatch):
    monkeypatch.setattr(cli.predict_files, "MAX_FILE_BYTES", MB)
    big = tmp_path / "big.dcm"
    big.write_bytes(bytes(MB + 1))
    (result,) = classify_files(Classifier(tiny_weights, "cpu"), [big])
    assert result.status == "error"
    assert result.message == (
        "The file is 1.0 MB, larger than any scan this tool reads (at most 1.0 MB), so it was not read."
    )


def test_every_entry_of_a_folder_gets_a_row(tmp_path, tiny_weights):
    """A broken link, a FIFO, a link to a folder and an unreadable subfolder are reported, not skipped."""
    folder = tmp_path / "export"
    (folder / "series").mkdir(parents=True)
    (folder / "series" / GOOD_PNG[0]).write_bytes(GOOD_PNG[1]())
    (folder / "broken.dcm").symlink_to(tmp_path / "gone.dcm")
    os.mkfifo(folder / "pipe")
    (folder / "linked_series").symlink_to(folder / "series")
    locked = folder / "locked"
    locked.mkdir()
    (locked / "hidden_by_permissions.png").write_bytes(GOOD_PNG[1]())
    locked.chmod(0)
    (folder / ".DS_Store").write_bytes(b"Bud1")  # hidden files are skipped, as the README says
    try:
        results = classify_within(30, Classifier(tiny_weights, "cpu"), expand_paths([folder]))
    finally:
        locked.chmod(0o755)
    messages = {name: result.message for name, result in results.items()}
    assert (
        messages["broken.dcm"] == "This is a link to a file that does not exist (a broken link), so nothing was read."
    )
    assert messages["pipe"] == "This is a named pipe (FIFO), not a file, so it was not read."
    assert messages["linked_series"] == (
        "This is a link to a folder; links to folders are not followed inside a folder. Name the folder itself."
    )
    assert results["good.png"].status != "error"
    assert ".DS_Store" not in results
    if os.geteuid() != 0:  # root lists any folder
        assert messages["locked"] == "Permission denied"
        assert set(results) == {"broken.dcm", "pipe", "linked_series", "good.png", "locked"}
    else:
        assert set(results) == {"broken.dcm", "pipe", "linked_series", "good.png", "hidden_by_permissions.png"}


def test_a_picture_too_small_for_the_model_gets_no_class(tmp_path, answering_weights, monkeypatch, capsys):
    """A thumbnail is enlarged to the model's input size, and the model classifies the blur: in the red-team
    run, 24-32 px thumbnails were answered confidently and half wrong. The tiny test model reads 32 px, so
    the minimum is raised here to its full input size to have room below it."""
    monkeypatch.setattr(core.decide.assessment, "MIN_SIDE_FRACTION", 1.0)
    for side in (24, 48):
        (tmp_path / f"slice_{side}.png").write_bytes(
            encoded(Image.fromarray(phantom(5, "glioma", 96)).resize((side, side)), "PNG")
        )
    assert main([str(tmp_path), "--weights", str(answering_weights), "--device", "cpu"]) == 0  # both were read
    rows = {Path(row["path"]).name: row for row in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    small, large = rows["slice_24.png"], rows["slice_48.png"]
    assert small["status"] == "too_small" and small["prediction"] == small["confidence"] == ""
    assert small["message"] == (
        "The picture is 24×24 pixels, smaller than the 32×32 this model needs for an answer (it reads pictures "
        "at 32×32): a thumbnail is enlarged into blur. Classify the full-size image."
    )
    assert large["status"] == "ok"


@pytest.mark.parametrize(("rows", "columns"), [(2, 2), (1, 2), (3, 1)])
def test_a_montage_of_slices_gets_no_class(tmp_path, answering_weights, rows, columns, capsys):
    """A sheet of four slices got one confident class ("no tumour 97.9 %" with three tumours on it)."""
    (tmp_path / "sheet.png").write_bytes(montage(rows, columns))
    (tmp_path / GOOD_PNG[0]).write_bytes(GOOD_PNG[1]())
    assert main([str(tmp_path), "--weights", str(answering_weights), "--device", "cpu"]) == 0
    rows_by_name = {Path(row["path"]).name: row for row in csv.DictReader(io.StringIO(capsys.readouterr().out))}
    sheet = rows_by_name["sheet.png"]
    assert sheet["status"] == "not_mri" and sheet["prediction"] == ""
    assert sheet["message"] == (
        f"This picture holds {rows * columns} slices side by side (a montage, or a screenshot of a viewer's "
        "grid), and the model answers for one slice: no class is given. Export or crop the slices one at a time."
    )
    assert rows_by_name["good.png"]["status"] == "ok"


def test_real_slices_are_one_slice_each():
    """The bundled samples are real scans from the public dataset (core/decide/layout.py has the full measurement)."""
    samples = sorted((Path(__file__).resolve().parents[1] / "samples").glob("*.jpg"))
    assert len(samples) == 8
    assert [count_slices(load_scan(path.read_bytes(), path.name).render()) for path in samples] == [1] * 8


# ---- the Classify page -------------------------------------------------------------------------------------


@pytest.fixture
def app(tmp_path, monkeypatch, tiny_weights):
    serve(monkeypatch, tmp_path / "weights", {"default": tiny_weights})
    return start()


def test_the_page_keeps_working_through_a_batch_of_hostile_uploads(app):
    good = [("good.png", encoded(Image.fromarray(phantom(5, "glioma", 96)), "PNG"))]
    upload(app, *[(case.name, case.build()) for case in REFUSED], *good)
    assert not app.exception
    table = app.dataframe[0].value
    notes = dict(zip(table["file"], table["note"], strict=True))
    statuses = dict(zip(table["file"], table["status"], strict=True))
    for case in REFUSED:
        if case.name == "series.jpg":  # a ZIP, whatever its name: the page reads its members (ui.scan_analysis.collect)
            assert statuses["series.jpg/IM0001.png"] != "could not be read"
            continue
        assert re.search(case.expect, notes[case.name]), (case.name, notes[case.name])
    assert statuses["good.png"] != "could not be read"


@pytest.fixture
def one_megabyte_limit():
    """server.maxUploadSize at 1 MB for one test (the shipped config says 50): the check, not the number."""
    before = streamlit_config.get_option("server.maxUploadSize")
    streamlit_config.set_option("server.maxUploadSize", 1)
    yield
    streamlit_config.set_option("server.maxUploadSize", before)


def test_the_page_survives_an_unexpected_failure_in_a_decoding_step(app, failing_nifti_slicer):
    upload(app, ("volume.nii", nifti_bytes(marked_volume()[0])), (GOOD_PNG[0], GOOD_PNG[1]()))
    assert not app.exception
    table = app.dataframe[0].value
    notes = dict(zip(table["file"], table["note"], strict=True))
    assert UNEXPECTED_FAILURE.search(notes["volume.nii"]) and "ZeroDivisionError" not in notes["volume.nii"]
    assert dict(zip(table["file"], table["status"], strict=True))["good.png"] != "could not be read"


def test_an_upload_over_the_size_limit_is_refused_by_the_server_too(app, one_megabyte_limit):
    """The browser enforces maxUploadSize; a client that posts to the upload endpoint directly does not.
    The file is a valid image, so only the server-side check can refuse it."""
    noise = np.random.default_rng(0).integers(0, 256, (1100, 1100), dtype=np.uint8)  # incompressible: ~1.2 MB
    big = encoded(Image.fromarray(noise), "PNG")
    assert MB < len(big) < 2 * MB
    upload(app, ("big.png", big), ("good.png", encoded(Image.fromarray(phantom(5, "glioma", 96)), "PNG")))
    assert not app.exception
    table = app.dataframe[0].value
    notes = dict(zip(table["file"], table["note"], strict=True))
    assert notes["big.png"] == (
        f"The file is {len(big) / MB:.1f} MB, over this server's limit of 1 MB per file, so it was not read. "
        "Upload the series in parts, or the slices you need."
    )
    assert dict(zip(table["file"], table["status"], strict=True))["good.png"] != "could not be read"
