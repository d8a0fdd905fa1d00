"""DICOM and NIfTI files for tests, built in memory with pydicom and nibabel (no fixtures on disk).

Every DICOM carries patient fields, so tests can check they never come out the other side.
"""

from __future__ import annotations

import gzip
import io

import nibabel as nib
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
ENHANCED_MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4.1"
PATIENT = {
    "PatientName": "DOE^JANE^Q",
    "PatientID": "PID-7731-0042",
    "PatientBirthDate": "19610214",
    "PatientAddress": "12 Harley Street",
    "OtherPatientIDs": "MRN-99887766",
    "InstitutionName": "St Elsewhere Hospital",
}
PATIENT_VALUES = [*PATIENT.values(), "DOE", "JANE", "Harley", "7731", "99887766"]


def dicom_bytes(
    pixels: np.ndarray,
    *,
    photometric: str = "MONOCHROME2",
    slope: float | None = None,
    intercept: float | None = None,
    window: tuple | None = None,
    preamble: bool = True,
    transfer_syntax: str = ExplicitVRLittleEndian,
    extra: dict | None = None,
) -> bytes:
    """A DICOM file: `pixels` is (H, W) or (F, H, W) integers (stored values); window is (centre, width),
    each either a number or a list of numbers (several suggested windows)."""
    pixels = np.asarray(pixels)
    signed = pixels.dtype.kind == "i"
    stored = pixels.astype(np.int16 if signed else np.uint16)
    dataset = Dataset()
    dataset.SOPClassUID = MR_IMAGE_STORAGE
    dataset.SOPInstanceUID = generate_uid()
    for keyword, value in PATIENT.items():
        setattr(dataset, keyword, value)
    dataset.Modality = "MR"
    dataset.Rows, dataset.Columns = stored.shape[-2:]
    if stored.ndim == 3:
        dataset.NumberOfFrames = stored.shape[0]
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 16, 15
    dataset.PixelRepresentation = int(signed)
    dataset.SamplesPerPixel = 1
    dataset.PhotometricInterpretation = photometric
    if slope is not None:
        dataset.RescaleSlope = f"{slope:g}"
    if intercept is not None:
        dataset.RescaleIntercept = f"{intercept:g}"
    if window is not None:
        dataset.WindowCenter, dataset.WindowWidth = window
    for keyword, value in (extra or {}).items():
        setattr(dataset, keyword, value)
    if UID(transfer_syntax).is_compressed:  # not really compressed: enough to ask for a decoder
        frames = stored.shape[0] if stored.ndim == 3 else 1
        dataset.PixelData = encapsulate([b"\xff\xd8\xff\xc3" + bytes(64) for _ in range(frames)])
    else:
        dataset.PixelData = stored.tobytes()
    buffer = io.BytesIO()
    if preamble:
        dataset.file_meta = FileMetaDataset()
        dataset.file_meta.MediaStorageSOPClassUID = dataset.SOPClassUID
        dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
        dataset.file_meta.TransferSyntaxUID = transfer_syntax
        dataset.save_as(buffer, enforce_file_format=True)
    else:  # a raw dataset: no preamble, no file meta, implicit VR little endian
        pydicom.dcmwrite(buffer, dataset, implicit_vr=True, little_endian=True)
    return buffer.getvalue()


def functional_group(**sequences: dict) -> Dataset:
    """One item of an enhanced multi-frame functional group: {sequence keyword: {tag keyword: value}}."""
    group = Dataset()
    for sequence, values in sequences.items():
        item = Dataset()
        for keyword, value in values.items():
            setattr(item, keyword, value)
        setattr(group, sequence, [item])
    return group


def nifti_bytes(volume: np.ndarray, affine: np.ndarray | None = None, *, compress: bool = False, version: int = 1):
    image_class = nib.Nifti2Image if version == 2 else nib.Nifti1Image
    image = image_class(volume, np.eye(4) if affine is None else affine)
    image.header["descrip"] = b"DOE^JANE scan"  # header text can hold patient details; it must not show
    raw = image.to_bytes()
    if not compress:
        return raw
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as handle:
        handle.write(raw)
    return buffer.getvalue()


def marked_volume(shape=(40, 50, 30)) -> tuple[np.ndarray, dict[str, tuple[int, int, int]]]:
    """A dim box with bright cubes near the patient's right-anterior-superior and left-posterior-inferior
    corners (RAS+ voxel order), so a test can tell where each end of each axis is drawn."""
    volume = np.zeros(shape, np.float32)
    volume[4:-4, 4:-4, 4:-4] = 100.0
    x, y, z = shape
    right_anterior_superior = (x - 8, y - 8, z - 8)
    left_posterior_inferior = (7, 7, 7)
    for cx, cy, cz in (right_anterior_superior, left_posterior_inferior):
        volume[cx - 3 : cx + 3, cy - 3 : cy + 3, cz - 3 : cz + 3] = 1000.0
    return volume, {"RAS": right_anterior_superior, "LPI": left_posterior_inferior}


def dicom_series(
    pictures: list[np.ndarray],
    *,
    orientation=(1, 0, 0, 0, 1, 0),
    spacing: float = 5.0,
    study_uid: str | None = None,
    series_uid: str | None = None,
    extra: dict | None = None,
) -> list[bytes]:
    """One DICOM file per picture, in slice order: one study and series, ImagePositionPatient stepping
    `spacing` mm along the slice normal, InstanceNumber 1, 2, ... (tests then shuffle or strip them)."""
    study_uid, series_uid = study_uid or generate_uid(), series_uid or generate_uid()
    normal = np.cross(np.asarray(orientation[:3], float), np.asarray(orientation[3:], float))
    files = []
    for index, picture in enumerate(pictures):
        position = normal * spacing * index + np.array([-120.0, -120.0, 0.0])
        tags = {
            "StudyInstanceUID": study_uid,
            "SeriesInstanceUID": series_uid,
            "SeriesNumber": 4,
            "InstanceNumber": index + 1,
            "ImageOrientationPatient": [float(v) for v in orientation],
            "ImagePositionPatient": [round(float(v), 4) for v in position],
            **(extra or {}),
        }
        files.append(dicom_bytes(np.asarray(picture, np.uint16), extra=tags))
    return files
