"""The model's answer as DICOM objects any PACS and workstation can file and show, built with highdicom:

- a Comprehensive SR holding a TID 1500 measurement report: the finding (the class, only when the status is
  ok), the status, the calibrated probability of every class, what was classified (one slice, or a series
  and its rule), and the model (name, version, weights sha256) as the algorithm identification (TID 4019)
  and the observing device. VerificationFlag UNVERIFIED: nobody has signed it.
- a Secondary Capture of the Grad-CAM overlay.

Both get new UIDs and their own series in the source's study. From the source only the patient and study
attributes are copied (highdicom's Patient, General Study and Patient Study modules), so the PACS files
them with the scan they describe; nothing else of the source is copied.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import highdicom as hd
import numpy as np
from highdicom.sr import CodedConcept
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from core.decide.assessment import NOT_MRI, OK, TOO_SMALL, UNCERTAIN
from core.labels import display_name
from core.report.finding import Finding
from core.run.model_info import ModelInfo

MANUFACTURER = "Brain MRI classifier (research software)"
# A local coding scheme for the model's classes and statuses: DICOM reserves designators starting with 99
# for them (PS3.16 8.2), and no standard code says "this model's calibrated score for its glioma class".
SCHEME = "99BRAINMRI"
SR_SERIES_NUMBER, SC_SERIES_NUMBER = 9901, 9902  # high numbers: after the scanner's own series
NOT_A_DIAGNOSIS = "AI result, unverified - not a diagnosis"
SR_SERIES_DESCRIPTION = f"{NOT_A_DIAGNOSIS} (brain MRI classifier)"
SC_SERIES_DESCRIPTION = f"Grad-CAM overlay - {NOT_A_DIAGNOSIS}"
STATUS_CONCEPT = CodedConcept("status", SCHEME, "Result status")
STATUS_MEANINGS = {
    OK: "Class stated",
    UNCERTAIN: "Uncertain - no class stated, refer",
    NOT_MRI: "Not a brain MRI - no class stated",
    TOO_SMALL: "Too small to classify - no class stated",
}
CLASSIFIED_CONCEPT = CodedConcept("classified", SCHEME, "Image classified")
RULE_CONCEPT = CodedConcept("rule", SCHEME, "Series rule")


# What a result needs of its source to be filed with it in a PACS (and what highdicom reads off it).
REQUIRED_IDENTIFIERS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "SOPClassUID")


class UnfileableSourceError(ValueError):
    """The source lacks the identifiers a result needs; str() is a message for the clinician."""


def check_sources(sources: Sequence[Dataset]) -> None:
    """UnfileableSourceError unless every source has its study, series and instance UIDs, all of one study."""
    if not sources:
        raise UnfileableSourceError("There is no DICOM image to attach a result to.")
    missing = sorted({keyword for source in sources for keyword in REQUIRED_IDENTIFIERS if not source.get(keyword)})
    if missing:
        raise UnfileableSourceError(
            f"This DICOM file lacks {', '.join(missing)}, so a DICOM result cannot be filed with it in a PACS. "
            "Export the scan from the PACS or scanner again, with its identifiers."
        )
    if len({str(source.StudyInstanceUID) for source in sources}) > 1:
        raise UnfileableSourceError("The images belong to different studies; a result covers one study.")


# The area of the region the mask head outlines: SNOMED CT "Area", in mm² (or pixels when the file has no spacing).
AREA_CONCEPT = CodedConcept("42798000", "SCT", "Area")
PIXELS_UNIT = CodedConcept("{pixels}", "UCUM", "pixels")


def structured_report(sources: Sequence[Dataset], finding: Finding, model: ModelInfo) -> hd.sr.ComprehensiveSR:
    """The SR for `finding` on `sources` (the classified instances, all of one study)."""
    check_sources(sources)
    algorithm = algorithm_identification(model)
    unit = codes.UCUM.NoUnits
    measurements = [
        hd.sr.Measurement(
            name=CodedConcept(f"P-{name}"[:16], SCHEME, f"Calibrated probability of {display_name(name)}"),
            value=round(float(value), 6),
            unit=unit,
        )
        for name, value in finding.probabilities
    ]
    if finding.outlined_mm2 is not None:
        measurements.append(
            hd.sr.Measurement(name=AREA_CONCEPT, value=finding.outlined_mm2, unit=codes.UCUM.SquareMillimeter)
        )
    elif finding.outlined_pixels is not None:  # no pixel spacing in the file: the area in the picture's pixels
        measurements.append(hd.sr.Measurement(name=AREA_CONCEPT, value=finding.outlined_pixels, unit=PIXELS_UNIT))
    evaluations = [hd.sr.QualitativeEvaluation(STATUS_CONCEPT, _status_code(finding.status))]
    if finding.label:
        evaluations.insert(0, hd.sr.QualitativeEvaluation(codes.DCM.Finding, class_code(finding.label)))
    group = hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=generate_uid(), identifier="Brain MRI classification"),
        algorithm_id=algorithm,
        measurements=measurements,
        qualitative_evaluations=evaluations,
    )
    texts = [(CLASSIFIED_CONCEPT, finding.what), (codes.DCM.Comment, NOT_A_DIAGNOSIS)]
    if finding.rule:
        texts.insert(1, (RULE_CONCEPT, finding.rule))
    for concept, text in texts:  # TID 1501 has no free text of its own; a Comprehensive SR may hold it
        group[0].ContentSequence.append(hd.sr.TextContentItem(concept, text, hd.sr.RelationshipTypeValues.CONTAINS))
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=device_uid(model),
            name=model.name[:64],
            manufacturer_name=MANUFACTURER,
            model_name=model.architecture[:64],
            serial_number=model.weights_sha256[:64] or None,
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=codes.LN.BrainMRI,
        imaging_measurements=[group],
    )
    return hd.sr.ComprehensiveSR(
        evidence=list(sources),
        content=report,
        series_instance_uid=hd.UID(),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
        is_final=False,
        is_verified=False,
        series_description=SR_SERIES_DESCRIPTION,
    )


def secondary_capture(source: Dataset, overlay: np.ndarray, finding: Finding, model: ModelInfo) -> hd.sc.SCImage:
    """The Grad-CAM overlay (RGB uint8, H × W × 3) as a Secondary Capture in the source's study."""
    check_sources([source])
    picture = np.ascontiguousarray(overlay, dtype=np.uint8)
    if picture.ndim != 3 or picture.shape[2] != 3:
        raise ValueError("the overlay must be an RGB picture (H × W × 3)")
    image = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=source,
        pixel_array=picture,
        photometric_interpretation=hd.PhotometricInterpretationValues.RGB,
        bits_allocated=8,
        coordinate_system=hd.CoordinateSystemNames.PATIENT,
        patient_orientation=patient_orientation(source),
        series_instance_uid=hd.UID(),
        series_number=SC_SERIES_NUMBER,
        sop_instance_uid=hd.UID(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        series_description=SC_SERIES_DESCRIPTION,
    )
    answer = display_name(finding.label) if finding.label else STATUS_MEANINGS[finding.status]
    image.ImageComments = f"{NOT_A_DIAGNOSIS}. {finding.what}: {answer}. Model {model.name} {version(model)}."
    image.BurnedInAnnotation = "NO"  # colours only, no text drawn into the pixels
    reference = Dataset()  # which image the evidence is drawn on: a reference (UIDs), not a copy
    reference.ReferencedSOPClassUID = source.SOPClassUID
    reference.ReferencedSOPInstanceUID = source.SOPInstanceUID
    image.SourceImageSequence = [reference]
    return image


def patient_orientation(source: Dataset) -> tuple[str, str]:
    """Where the overlay's rows and columns run in the patient (it keeps the source's pixel order), from the
    source's ImageOrientationPatient: the dominant axis of each direction. Without that tag: the usual axial
    display (rows towards the patient's left, columns towards the back), as a viewer would assume."""
    try:
        cosines = [float(value) for value in source.ImageOrientationPatient]
    except (AttributeError, TypeError, ValueError):
        return ("L", "P")
    if len(cosines) != 6:
        return ("L", "P")
    return (_direction(cosines[:3]), _direction(cosines[3:]))


def _direction(cosines: list[float]) -> str:
    """The patient direction a unit vector mostly points to (DICOM's LPS axes: +x left, +y back, +z head)."""
    axis = max(range(3), key=lambda index: abs(cosines[index]))
    return ("LPH" if cosines[axis] >= 0 else "RAF")[axis]


def algorithm_identification(model: ModelInfo) -> hd.sr.AlgorithmIdentification:
    return hd.sr.AlgorithmIdentification(
        name=model.name[:64],
        version=version(model),
        parameters=[f"architecture {model.architecture}", f"weights sha256 {model.weights_sha256}"],
        manufacturer=MANUFACTURER,
    )


def version(model: ModelInfo) -> str:
    """Date trained and the start of the weights' hash, in the plain ASCII DICOM's default character set
    takes (ModelInfo.version's middle dot is not)."""
    day = model.created[:10] if model.created else "undated"
    return f"{day} {model.weights_sha256[:12]}".strip()


def device_uid(model: ModelInfo) -> str:
    """The same UID for the same weights, so a PACS can tell results of one model from another's."""
    return generate_uid(entropy_srcs=[model.name, model.weights_sha256 or model.created])


def class_code(name: str) -> CodedConcept:
    return CodedConcept(name[:16], SCHEME, display_name(name))


def _status_code(status: str) -> CodedConcept:
    return CodedConcept(status, SCHEME, STATUS_MEANINGS[status])


def report_lines(report: Dataset) -> list[str]:
    """A readable dump of an SR's content tree (concept: value), one item a line, indented by depth. Only
    the content tree: no patient or study attribute."""
    lines: list[str] = []

    def walk(items: Sequence[Dataset], depth: int) -> None:
        for item in items:
            lines.append("  " * depth + _item_text(item))
            if "ContentSequence" in item:
                walk(item.ContentSequence, depth + 1)

    top = report.ConceptNameCodeSequence[0].CodeMeaning if "ConceptNameCodeSequence" in report else "report"
    lines.append(str(top))
    walk(report.get("ContentSequence", []), 1)
    return lines


def _item_text(item: Dataset) -> str:
    name = item.ConceptNameCodeSequence[0].CodeMeaning if "ConceptNameCodeSequence" in item else "(unnamed)"
    kind = item.get("ValueType", "")
    if kind == "TEXT":
        value = item.TextValue
    elif kind in ("CODE",):
        code = item.ConceptCodeSequence[0]
        value = f"{code.CodeMeaning} ({code.CodingSchemeDesignator} {code.CodeValue})"
    elif kind == "NUM":
        measured = item.MeasuredValueSequence[0]
        unit = measured.MeasurementUnitsCodeSequence[0].CodeValue
        value = f"{float(measured.NumericValue):.6g} [{unit}]"
    elif kind == "UIDREF":
        value = item.UID
    elif kind == "CONTAINER":
        value = ""
    else:
        value = f"({kind})"
    relation = item.get("RelationshipType", "")
    return f"[{relation} {kind}] {name}" + (f": {value}" if value else "")


def probabilities_in(report: Dataset) -> Mapping[str, float]:
    """The class probabilities an SR holds, by class name (the code after "P-"), read back from its tree."""
    found: dict[str, float] = {}

    def walk(items: Sequence[Dataset]) -> None:
        for item in items:
            if item.get("ValueType") == "NUM":
                code = item.ConceptNameCodeSequence[0]
                if code.CodingSchemeDesignator == SCHEME and str(code.CodeValue).startswith("P-"):
                    found[str(code.CodeValue)[2:]] = float(item.MeasuredValueSequence[0].NumericValue)
            if "ContentSequence" in item:
                walk(item.ContentSequence)

    walk(report.get("ContentSequence", []))
    return found
