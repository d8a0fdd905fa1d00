import numpy as np
import pytest
from pydicom.dataset import Dataset

from core.io.acquisition import acquisition_of, plane_of
from core.io.dicom_io import read_dicom
from core.io.image_io import UnreadableScanError
from core.io.scan_io import load_scan
from tests.scan_files import PATIENT_VALUES, dicom_bytes, functional_group

AXIAL_IOP = [1, 0, 0, 0, 1, 0]
CORONAL_IOP = [1, 0, 0, 0, 0, -1]
SAGITTAL_IOP = [0, 1, 0, 0, 0, -1]


def tags(**values) -> Dataset:
    dataset = Dataset()
    dataset.Modality = "MR"
    for keyword, value in values.items():
        setattr(dataset, keyword, value)
    return dataset


@pytest.mark.parametrize(
    ("orientation", "plane"),
    [(AXIAL_IOP, "axial"), (CORONAL_IOP, "coronal"), (SAGITTAL_IOP, "sagittal"), (None, None)],
)
def test_plane_from_the_slice_normal(orientation, plane):
    assert plane_of(orientation)[0] == plane


def test_a_tilted_slice_keeps_its_plane_and_a_steep_one_is_oblique():
    def tilted(degrees):  # an axial slice turned about the patient's x axis
        angle = np.radians(degrees)
        return [1, 0, 0, 0, float(np.cos(angle)), float(np.sin(angle))]

    plane, note = plane_of(tilted(15))
    assert plane == "axial" and "tilted 15°" in note
    plane, note = plane_of(tilted(45))
    assert plane == "oblique" and "45°" in note
    assert plane_of([1, 0, 0, 1, 0, 0])[0] is None  # parallel directions: no plane at all


@pytest.mark.parametrize(
    ("values", "sequence"),
    [
        ({"RepetitionTime": 500, "EchoTime": 12}, "T1"),
        ({"RepetitionTime": 500, "EchoTime": 12, "ContrastBolusAgent": "Gadovist"}, "T1C"),
        ({"RepetitionTime": 4500, "EchoTime": 100}, "T2"),
        ({"ScanningSequence": ["SE", "IR"], "RepetitionTime": 9000, "EchoTime": 120, "InversionTime": 2500}, "FLAIR"),
        ({"ScanningSequence": ["GR", "IR"], "RepetitionTime": 2000, "EchoTime": 3, "InversionTime": 900}, "T1"),
        ({"ScanningSequence": ["SE", "IR"], "RepetitionTime": 4000, "EchoTime": 40, "InversionTime": 150}, "other"),
        ({"ScanningSequence": "EP", "SequenceVariant": "SP", "RepetitionTime": 5000, "EchoTime": 90}, None),
        ({"DiffusionBValue": 1000, "RepetitionTime": 5000, "EchoTime": 90}, "DWI"),
        ({"SeriesDescription": "AX T2 FLAIR"}, "FLAIR"),
        ({"SeriesDescription": "ep2d_diff_3scan_trace"}, "DWI"),
        ({"SeriesDescription": "AX T1 POST GD"}, "T1C"),
        ({"SeriesDescription": "localizer"}, None),
        ({}, None),
    ],
)
def test_sequence_family_from_the_tags(values, sequence):
    assert acquisition_of(tags(**values)).sequence == sequence


def test_the_timings_win_over_a_contradicting_description_and_the_notes_say_so():
    found = acquisition_of(tags(SeriesDescription="AX T2 TSE", RepetitionTime=450, EchoTime=10))
    assert found.sequence == "T1"
    said = " ".join(found.notes)
    assert "from the scanner's timings (TR 450 ms, TE 10 ms)" in said
    assert "The series description says T2, but the timings" in said and "the timings are used" in said


def test_without_clear_timings_the_description_decides_and_says_the_timings_did_not():
    found = acquisition_of(tags(SeriesDescription="sag T1 mprage", RepetitionTime=1500, EchoTime=40))
    assert found.sequence == "T1"
    assert "from the series description. The timings (TR 1500 ms, TE 40 ms) do not settle it." in found.notes[-1]


def test_contrast_needs_an_agent_or_words_and_a_t2_with_an_agent_stays_t2():
    assert acquisition_of(tags(RepetitionTime=4500, EchoTime=100, ContrastBolusAgent="Gd")).sequence == "T2"
    plain = acquisition_of(tags(SeriesDescription="T1 SE", RepetitionTime=500, EchoTime=12))
    assert plain.sequence == "T1" and not any("contrast" in note for note in plain.notes)


def test_enhanced_multi_frame_files_keep_orientation_and_timing_in_functional_groups():
    dataset = tags(
        SharedFunctionalGroupsSequence=[
            functional_group(
                PlaneOrientationSequence={"ImageOrientationPatient": SAGITTAL_IOP},
                MRTimingAndRelatedParametersSequence={"RepetitionTime": 6000},
                MREchoSequence={"EffectiveEchoTime": 110},
            )
        ]
    )
    found = acquisition_of(dataset)
    assert (found.plane, found.sequence) == ("sagittal", "T2")


def test_a_decoded_file_carries_its_acquisition_and_shows_it_in_its_facts():
    data = dicom_bytes(
        np.full((32, 32), 100, np.uint16),
        extra={
            "ImageOrientationPatient": CORONAL_IOP,
            "RepetitionTime": "550",
            "EchoTime": "14",
            "ContrastBolusAgent": "Gadovist",
            "SeriesDescription": "COR T1 +C DOE^JANE",
        },
    )
    scan = load_scan(data, "slice.dcm")
    assert scan.dicom.acquisition.plane == "coronal" and scan.dicom.acquisition.sequence == "T1C"
    facts = scan.facts()
    assert facts["plane"] == "coronal" and facts["sequence"] == "T1C"
    shown = repr(scan.dicom.acquisition) + str(facts)
    assert not any(value in shown for value in PATIENT_VALUES)
    assert "+C" not in " ".join(scan.dicom.acquisition.notes)  # the description is read, never quoted


def test_a_file_without_these_tags_says_so_in_its_facts():
    facts = load_scan(dicom_bytes(np.full((32, 32), 100, np.uint16)), "bare.dcm").facts()
    assert facts["plane"] == "not stated in the file" and facts["sequence"] == "not known from the tags"


def test_a_ct_is_refused_in_words_before_any_acquisition_is_read():
    with pytest.raises(UnreadableScanError, match=r"^This DICOM file is a CT image \(modality CT\), not MRI\."):
        read_dicom(dicom_bytes(np.full((32, 32), 100, np.uint16), extra={"Modality": "CT"}))


def test_malformed_tags_give_no_facts_and_never_cost_the_scan(monkeypatch):
    odd = Dataset()
    odd.add_new(0x00180080, "LO", "fast")  # RepetitionTime as text
    odd.add_new(0x00200037, "LO", "1\\0\\zero\\0\\1\\0")  # ImageOrientationPatient with a word in it
    odd.add_new(0x00180081, "LO", "12")  # EchoTime: a number, stored as text
    found = acquisition_of(odd)
    assert (found.plane, found.sequence) == (None, None)

    import core.io.dicom_io

    def broken(dataset):
        raise IndexError("a crafted functional group")

    monkeypatch.setattr(core.io.dicom_io, "acquisition_of", broken)
    scan = load_scan(dicom_bytes(np.full((32, 32), 100, np.uint16)), "odd.dcm")
    assert scan.dicom.acquisition is None and scan.render().shape == (32, 32)
    assert "plane" not in scan.facts()
