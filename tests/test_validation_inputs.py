"""Reading labelled sets without a browser: ZIP safety, folder and CSV labels, DICOM matched by UID."""

import io
import zipfile

import numpy as np
import pytest

from core.io.zip_input import RefusedArchive, read_zip, unsafe_path
from core.report.labelled_set import LabelsError, from_csv, from_folders, read_labels_csv
from tests.disk_writes import recording_disk_writes
from tests.phantoms import phantom
from tests.scan_files import dicom_bytes


def zip_of(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_zip_of_class_folders_is_read_in_memory_and_labelled_by_folder():
    data = zip_of({"set/glioma/a.png": b"1", "set/Normal/b.png": b"2", "loose.png": b"3", "__MACOSX/._a.png": b"x"})
    with recording_disk_writes() as written:
        contents = read_zip(data)
    assert written == []
    labelled = from_folders(contents.members)
    assert [(f.name, f.label, f.data) for f in labelled.files] == [
        ("set/glioma/a.png", "glioma", b"1"),
        ("set/Normal/b.png", "Normal", b"2"),
    ]
    assert labelled.unlabelled == ["loose.png"]


def test_a_zip_bomb_is_refused_before_anything_is_unpacked():
    bomb = zip_of({f"glioma/{i}.png": bytes(40 << 20) for i in range(3)})  # 120 MB of zeros, ~120 kB zipped
    assert len(bomb) < 1 << 20
    with pytest.raises(RefusedArchive, match="would unpack to 120 MB"):
        read_zip(bomb, max_total_bytes=100 << 20)
    with pytest.raises(RefusedArchive, match="holds 3 files"):
        read_zip(bomb, max_members=2)


@pytest.mark.parametrize("name", ["../evil.png", "glioma/../../evil.png", "/etc/evil.png", "C:/evil.png", "a\\..\\b"])
def test_a_member_stored_outside_the_folder_refuses_the_archive(name):
    assert unsafe_path(name)
    with pytest.raises(RefusedArchive, match="outside its own folder"):
        read_zip(zip_of({"glioma/fine.png": b"1", name: b"2"}))


def test_a_member_that_lies_about_its_size_or_is_damaged_is_listed_and_the_rest_read():
    data = bytearray(zip_of({"glioma/good.png": b"A" * 1000, "glioma/bad.png": b"B" * 1000}, zipfile.ZIP_STORED))
    at = data.find(b"B" * 1000)
    data[at : at + 10] = b"C" * 10  # the stored bytes no longer match their checksum
    contents = read_zip(bytes(data))
    assert [name for name, _ in contents.members] == ["glioma/good.png"]
    assert contents.unreadable[0]["path"] == "glioma/bad.png" and "damaged" in contents.unreadable[0]["reason"]


def test_not_a_zip_is_refused_in_words():
    with pytest.raises(RefusedArchive, match="damaged or not a ZIP"):
        read_zip(b"PK\x03\x04 not really")


def test_csv_labels_match_by_path_by_name_and_by_dicom_uid():
    uid = "1.2.826.0.1.3680043.8.498.12345"
    dicom = dicom_bytes(phantom(3, "glioma", 64).astype(np.uint16))
    dicom_with_uid = dicom_bytes(phantom(4, "glioma", 64).astype(np.uint16), extra={"SOPInstanceUID": uid})
    rows = read_labels_csv(
        b"\xef\xbb\xbfFile;Diagnosis;Scanner\nscans/a.png;glioma_tumor;A\nb.png;Tumour A;B\n"
        + f"{uid};Normal;A\nmissing.png;glioma;A\nIM3;;A\n".encode()
    )
    files = [("scans/a.png", b"a"), ("other/b.png", b"b"), ("IM2", dicom_with_uid), ("IM3", dicom), ("c.png", b"c")]
    labelled = from_csv(files, rows)
    assert [(f.name, f.label, f.attributes["site"]) for f in labelled.files] == [
        ("scans/a.png", "glioma_tumor", "A"),
        ("other/b.png", "Tumour A", "B"),
        ("IM2", "Normal", "A"),
    ]
    assert sorted(labelled.unlabelled) == ["IM3", "c.png"]  # IM3's row has an empty label
    assert labelled.unmatched_rows == ["missing.png"]


def test_a_csv_without_the_needed_columns_says_which():
    with pytest.raises(LabelsError, match="'label'"):
        read_labels_csv(b"file,kind\na.png,glioma\n")
