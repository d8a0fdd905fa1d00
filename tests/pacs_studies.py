"""Synthetic studies for the PACS tests, built in memory with pydicom: an MR series of phantom slices, and a
CT-only study. Every instance carries distinctive patient fields, so tests can check where they go."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from tests.phantoms import phantom

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
PATIENT = {
    "PatientName": "PACSMAN^ZEBEDEE",
    "PatientID": "ZPID-404170931",
    "PatientBirthDate": "19500505",
    "PatientSex": "O",
}
ACCESSION = "ZACC-882130577"
# The numeric parts are checked on their own too (a result that copied the number alone leaks it). They are
# nine digits long because results carry random UIDs: a five-digit part turned up inside one by chance
# (about 1 run in 200).
PATIENT_SECRETS = ["PACSMAN", "ZEBEDEE", "ZPID-404170931", "404170931", "19500505", ACCESSION, "882130577"]
# Source attributes that are neither patient nor study attributes: a result must not copy them.
NOT_TO_COPY = {"InstitutionName": "Zebedee Memorial Hospital", "OperatorsName": "QUIGLEY^ZED"}


@dataclass(frozen=True)
class Study:
    study_uid: str
    series_uid: str
    datasets: list[Dataset]


def mr_study(slices: int = 6, label: str = "glioma", size: int = 128, study_date: str = "20240317") -> Study:
    """One axial MR series of `slices` phantom slices, 5 mm apart, with patient and study attributes."""
    study_uid, series_uid, frame_uid = generate_uid(), generate_uid(), generate_uid()
    datasets = []
    for index in range(slices):
        pixels = phantom(1_000 + index, label, size).astype(np.uint16) * 16
        dataset = _instance(MR_IMAGE_STORAGE, "MR", study_uid, series_uid, pixels, study_date)
        dataset.FrameOfReferenceUID = frame_uid
        dataset.SeriesNumber, dataset.InstanceNumber = 3, index + 1
        dataset.SeriesDescription = "AX T1 POST"
        dataset.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        dataset.ImagePositionPatient = [-100.0, -100.0, 5.0 * index]
        dataset.PixelSpacing, dataset.SliceThickness = [1.0, 1.0], 5.0
        dataset.ScanningSequence, dataset.RepetitionTime, dataset.EchoTime = "SE", 500, 12
        dataset.WindowCenter, dataset.WindowWidth = 2048, 4096
        datasets.append(dataset)
    return Study(study_uid, series_uid, datasets)


def ct_study(slices: int = 2) -> Study:
    study_uid, series_uid = generate_uid(), generate_uid()
    datasets = []
    for index in range(slices):
        dataset = _instance(CT_IMAGE_STORAGE, "CT", study_uid, series_uid, np.full((64, 64), 1024, np.uint16))
        dataset.SeriesNumber, dataset.InstanceNumber = 2, index + 1
        dataset.RescaleSlope, dataset.RescaleIntercept = 1, -1024
        datasets.append(dataset)
    return Study(study_uid, series_uid, datasets)


def _instance(
    sop_class: str, modality: str, study_uid: str, series_uid: str, pixels: np.ndarray, study_date: str = "20240317"
) -> Dataset:
    dataset = Dataset()
    dataset.file_meta = FileMetaDataset()
    dataset.SOPClassUID, dataset.SOPInstanceUID = sop_class, generate_uid()
    dataset.file_meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    dataset.file_meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    dataset.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    for keyword, value in {**PATIENT, **NOT_TO_COPY}.items():
        setattr(dataset, keyword, value)
    dataset.StudyInstanceUID, dataset.SeriesInstanceUID = study_uid, series_uid
    dataset.StudyDate, dataset.StudyTime, dataset.StudyID = study_date, "101500", "4711"
    dataset.AccessionNumber, dataset.StudyDescription = ACCESSION, "MRI BRAIN WITH CONTRAST"
    dataset.ReferringPhysicianName = ""
    dataset.Modality = modality
    dataset.Rows, dataset.Columns = pixels.shape
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 16, 16, 15
    dataset.PixelRepresentation, dataset.SamplesPerPixel = 0, 1
    dataset.PhotometricInterpretation = "MONOCHROME2"
    dataset.PixelData = pixels.astype(np.uint16).tobytes()
    return dataset
