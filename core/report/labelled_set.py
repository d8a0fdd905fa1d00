"""Labelled scans from the forms a user has them in: class subfolders, or files plus a CSV of labels.

  folders   the label is the name of the folder a file is in (`glioma/IM001.dcm`, `set/Normal/a.png`)
  CSV       `file,label` with optional `sequence`, `plane`, `site` (or `scanner`) columns; `file` is the
            file's path, its name alone, or, for DICOM, its SOPInstanceUID

Labels are kept as written: mapping them to the model's classes is the caller's (core.labels, then the
user). Files with no label and CSV rows that name no file are listed, never dropped silently.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from core.io.dicom_io import has_dicom_magic

ATTRIBUTE_COLUMNS = ("sequence", "plane", "site")
_COLUMN_NAMES = {
    "file": ("file", "filename", "file_name", "path", "image", "sopinstanceuid"),
    "label": ("label", "class", "diagnosis", "category"),
    "sequence": ("sequence",),
    "plane": ("plane", "orientation"),
    "site": ("site", "scanner", "centre", "center", "hospital"),
}


class LabelsError(ValueError):
    """The CSV of labels cannot be used; the message says why, for the user."""


@dataclass(frozen=True)
class LabelledFile:
    name: str  # path inside the ZIP, or the uploaded file's name
    data: bytes
    label: str  # as written in the folder name or the CSV
    attributes: dict = field(default_factory=dict)  # sequence / plane / site, from the CSV


@dataclass
class LabelledSet:
    files: list[LabelledFile] = field(default_factory=list)
    unlabelled: list[str] = field(default_factory=list)  # files no folder or CSV row labels
    unmatched_rows: list[str] = field(default_factory=list)  # CSV `file` values that name no given file


def from_folders(members: list[tuple[str, bytes]]) -> LabelledSet:
    """Label each file by the folder it is in; files at the top of the archive have no label."""
    result = LabelledSet()
    for name, data in members:
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if len(parts) < 2:
            result.unlabelled.append(name)
        else:
            result.files.append(LabelledFile(name, data, parts[-2]))
    return result


def read_labels_csv(data: bytes) -> list[dict]:
    """Rows of {"file", "label", "sequence", "plane", "site"} (missing optional columns are "")."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            text = data.decode("cp1252")
        except UnicodeDecodeError:
            raise LabelsError("The labels file is not text: save it as CSV (comma-separated values).") from None
    sample = text[:4096]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    header = next(reader, None)
    if not header:
        raise LabelsError("The labels file is empty.")
    columns = {}
    for index, heading in enumerate(header):
        key = heading.strip().lower().replace(" ", "_")
        for name, spellings in _COLUMN_NAMES.items():
            if key in spellings and name not in columns:
                columns[name] = index
    missing = [name for name in ("file", "label") if name not in columns]
    if missing:
        raise LabelsError(
            f"The labels file needs a column named {' and '.join(repr(m) for m in missing)}; its columns are "
            f"{', '.join(repr(h) for h in header)}. Expected: file,label (and optionally sequence, plane, site)."
        )
    rows = []
    for values in reader:
        if not any(value.strip() for value in values):
            continue
        row = {name: (values[i].strip() if i < len(values) else "") for name, i in columns.items()}
        rows.append({"file": "", "label": "", **dict.fromkeys(ATTRIBUTE_COLUMNS, ""), **row})
    return rows


def from_csv(files: list[tuple[str, bytes]], rows: list[dict]) -> LabelledSet:
    """Label `files` from CSV rows by path, by file name, or (DICOM) by SOPInstanceUID, in that order."""
    by_key: dict[str, dict] = {}
    for row in rows:
        by_key.setdefault(_key(row["file"]), row)
    used: set[str] = set()
    result = LabelledSet()
    pending = []
    for name, data in files:
        key = next((k for k in (_key(name), _key(PurePosixPath(name).name)) if k in by_key), None)
        if key is None:
            pending.append((name, data))
            continue
        used.add(key)
        if by_key[key]["label"]:
            result.files.append(_labelled(name, data, by_key[key]))
        else:
            result.unlabelled.append(name)
    for name, data in pending:
        uid = sop_instance_uid(data) if by_key.keys() - used else ""
        if uid and _key(uid) in by_key:
            used.add(_key(uid))
            result.files.append(_labelled(name, data, by_key[_key(uid)]))
        else:
            result.unlabelled.append(name)
    result.unmatched_rows = [row["file"] for row in rows if _key(row["file"]) not in used]
    return result


def sop_instance_uid(data: bytes) -> str:
    """A DICOM file's SOPInstanceUID, read without its pixels; "" for anything else."""
    if not has_dicom_magic(data):
        return ""
    import pydicom  # only for DICOM; the header alone is parsed

    try:
        dataset = pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, specific_tags=["SOPInstanceUID"])
    except Exception:  # a damaged header: the file is then simply not matched by UID, and is listed
        return ""
    return str(getattr(dataset, "SOPInstanceUID", "") or "")


def _labelled(name: str, data: bytes, row: dict) -> LabelledFile:
    return LabelledFile(name, data, row["label"], {column: row.get(column, "") for column in ATTRIBUTE_COLUMNS})


def _key(text: str) -> str:
    return str(text).strip().replace("\\", "/").removeprefix("./").lower()
