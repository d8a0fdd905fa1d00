"""A PACS over DICOMweb: search studies (QIDO-RS), list a study's MR series, fetch a series (WADO-RS) as
DICOM files held in memory, and store results (STOW-RS). Built on `dicomweb-client`.

Every call has a timeout and no retries, so a slow or dead server costs at most one timeout, never a hang.
Every failure is a PacsError whose text says in plain words what went wrong (unreachable, timeout, wrong
credentials, not found, TLS, no MR series); the library's own error texts are never passed on, because they
quote the request's URL, and a search URL carries the patient ID or accession number searched for. For the
same reason the library's and urllib3's log records that quote URLs are dropped (see below).

What comes back for display (StudyHit, SeriesHit) holds study and series facts only: no patient field.
"""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date

import pydicom
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian

import core.io.dicom_io  # noqa: F401  (silences pydicom's warnings and logs, which can quote patient fields)

ENVIRONMENT_PREFIX = "MRI_PACS_"  # MRI_PACS_URL, MRI_PACS_USERNAME, MRI_PACS_PASSWORD, MRI_PACS_TOKEN, ...
DEFAULT_TIMEOUT = 15.0  # seconds, for connecting and for each read
MAX_STUDIES = 50  # a search lists at most this many studies
MAX_SERIES_INSTANCES = 1_000  # a series larger than this is refused before it is fetched
MR = "MR"

# dicomweb-client logs each request's URL (debug) and urllib3 logs the request line, query string included:
# a search by patient ID would put the ID in the log. Records that quote a URL with a query are dropped.
_DICOMWEB_LOGGER = logging.getLogger("dicomweb_client")
_DICOMWEB_LOGGER.addFilter(lambda record: False)
_DICOMWEB_LOGGER.setLevel(logging.CRITICAL + 1)
_DICOMWEB_LOGGER.propagate = False
logging.getLogger("urllib3.connectionpool").addFilter(lambda record: "?" not in record.getMessage())


class PacsError(Exception):
    """A PACS call failed; str() is a message for the clinician, never the server's or library's text."""


@dataclass(frozen=True)
class PacsSettings:
    url: str  # the DICOMweb root, e.g. https://pacs.example.org/dicom-web
    username: str = ""
    password: str = field(default="", repr=False)
    token: str = field(default="", repr=False)  # a bearer token, instead of username and password
    verify_tls: bool = True
    timeout: float = DEFAULT_TIMEOUT

    @classmethod
    def from_sources(cls, secrets: Mapping | None, environment: Mapping[str, str]) -> PacsSettings | None:
        """The `[pacs]` table of .streamlit/secrets.toml if it names a url, else the MRI_PACS_* environment
        variables if MRI_PACS_URL is set, else None (no PACS configured)."""
        table = {str(key).lower(): value for key, value in dict(secrets or {}).items()}
        if not table.get("url"):
            table = {
                key[len(ENVIRONMENT_PREFIX) :].lower(): value
                for key, value in environment.items()
                if key.startswith(ENVIRONMENT_PREFIX)
            }
        url = str(table.get("url") or "").strip()
        if not url:
            return None
        return cls(
            url=url.rstrip("/"),
            username=str(table.get("username") or ""),
            password=str(table.get("password") or ""),
            token=str(table.get("token") or ""),
            verify_tls=_truthy(table.get("verify_tls", True)),
            timeout=float(table.get("timeout") or DEFAULT_TIMEOUT),
        )


def _truthy(value) -> bool:
    if isinstance(value, str):
        return value.strip().lower() not in {"0", "false", "no", "off"}
    return bool(value)


@dataclass(frozen=True)
class StudyQuery:
    accession_number: str = ""
    patient_id: str = ""
    date_from: date | None = None
    date_to: date | None = None
    mr_only: bool = True

    def filters(self) -> dict[str, str]:
        filters = {}
        if self.accession_number.strip():
            filters["AccessionNumber"] = self.accession_number.strip()
        if self.patient_id.strip():
            filters["PatientID"] = self.patient_id.strip()
        if self.date_from or self.date_to:
            # DICOM date ranges (PS3.4 C.2.2.2.5): "A-B", "A-" (on or after), "-B" (on or before), "A" (that day)
            start = self.date_from.strftime("%Y%m%d") if self.date_from else ""
            end = self.date_to.strftime("%Y%m%d") if self.date_to else ""
            filters["StudyDate"] = start if start == end else f"{start}-{end}"
        if self.mr_only:
            filters["ModalitiesInStudy"] = MR
        return filters


@dataclass(frozen=True)
class StudyHit:
    study_uid: str
    date: str  # YYYY-MM-DD, or "" when the PACS has none
    description: str
    modalities: tuple[str, ...]
    series_count: int | None

    @property
    def label(self) -> str:
        count = f"{self.series_count} series" if self.series_count is not None else ""
        parts = [self.date or "undated", self.description or "no description", "/".join(self.modalities), count]
        return " · ".join(part for part in parts if part)


@dataclass(frozen=True)
class SeriesHit:
    study_uid: str
    series_uid: str
    modality: str
    number: int | None
    description: str
    instance_count: int | None

    @property
    def name(self) -> str:
        number = f"Series {self.number}" if self.number is not None else "Series"
        return f"{number} · {self.description or 'no description'}"

    @property
    def label(self) -> str:
        count = f" · {self.instance_count} images" if self.instance_count is not None else ""
        return self.name + count


@dataclass(frozen=True, repr=False)
class PacsFile:
    """A fetched DICOM instance, shaped like Streamlit's UploadedFile (file_id, name, getvalue) so it enters
    the Classify page exactly as an upload does. Held in memory only."""

    file_id: str
    name: str
    data: bytes
    sop_instance_uid: str

    def getvalue(self) -> bytes:
        return self.data

    def __repr__(self) -> str:
        return f"PacsFile({self.name!r}, {len(self.data)} bytes)"


class Pacs:
    def __init__(self, settings: PacsSettings, session: requests.Session | None = None):
        self.settings = settings
        session = session or requests.Session()
        session.verify = settings.verify_tls
        if settings.token:
            session.headers["Authorization"] = f"Bearer {settings.token}"
        elif settings.username:
            session.auth = (settings.username, settings.password)
        self._client = DICOMwebClient(settings.url, session=session, timeout=settings.timeout)
        self._client.set_http_retry_params(retry=False)  # one timeout is the most a call may cost

    def search_studies(self, query: StudyQuery, limit: int = MAX_STUDIES) -> list[StudyHit]:
        fields = ["StudyDate", "StudyDescription", "ModalitiesInStudy", "NumberOfStudyRelatedSeries"]
        with _talking("search"):
            found = self._client.search_for_studies(search_filters=query.filters(), fields=fields, limit=limit)
            hits = [_study_hit(Dataset.from_json(item)) for item in found]
        return sorted(hits, key=lambda hit: hit.date, reverse=True)

    def series(self, study_uid: str) -> list[SeriesHit]:
        """Every series of the study, of any modality (results stored back among them)."""
        fields = ["Modality", "SeriesNumber", "SeriesDescription", "NumberOfSeriesRelatedInstances"]
        with _talking("study"):
            found = self._client.search_for_series(study_instance_uid=study_uid, fields=fields)
            return [_series_hit(study_uid, Dataset.from_json(item)) for item in found]

    def mr_series(self, study_uid: str) -> list[SeriesHit]:
        """The study's MR series; PacsError when the study is not there or holds none."""
        series = self.series(study_uid)
        if not series:
            raise PacsError("The PACS has no series in this study (it may have been moved or deleted).")
        magnetic = [hit for hit in series if hit.modality == MR]
        if not magnetic:
            others = ", ".join(sorted({hit.modality or "unknown" for hit in series}))
            raise PacsError(
                f"This study holds no MR series (only {others}), so there is nothing this brain MRI model can "
                "classify. Pick another study."
            )
        return sorted(magnetic, key=lambda hit: (hit.number is None, hit.number or 0))

    def fetch_series(self, series: SeriesHit) -> list[PacsFile]:
        """Every instance of `series` as DICOM file bytes in memory, ordered by InstanceNumber."""
        if series.instance_count is not None and series.instance_count > MAX_SERIES_INSTANCES:
            raise PacsError(
                f"The series holds {series.instance_count} images, more than the {MAX_SERIES_INSTANCES} this "
                "app fetches at once."
            )
        with _talking("series"):
            datasets = self._client.retrieve_series(series.study_uid, series.series_uid)
        if not datasets:
            raise PacsError("The PACS sent no images for this series.")
        datasets.sort(key=lambda dataset: _integer(dataset, "InstanceNumber") or 0)
        label = f"series {series.number}" if series.number is not None else "series"
        files = []
        for position, dataset in enumerate(datasets, start=1):
            number = _integer(dataset, "InstanceNumber") or position
            uid = str(dataset.get("SOPInstanceUID", f"{series.series_uid}.{position}"))
            files.append(PacsFile(f"pacs:{uid}", f"PACS {label} image {number}", file_bytes(dataset), uid))
        return files

    def store(self, datasets: Sequence[Dataset]) -> None:
        """STOW-RS `datasets` (all of one study); PacsError unless the PACS accepted every one."""
        for dataset in datasets:
            as_file(dataset)
        with _talking("store"):
            response = self._client.store_instances(list(datasets))
        failed = response.get("FailedSOPSequence") if response is not None else None
        if failed:
            raise PacsError(f"The PACS refused {len(failed)} of the {len(datasets)} objects sent to it.")


def file_bytes(dataset: Dataset) -> bytes:
    """A dataset as DICOM file bytes (preamble, file meta), in memory."""
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, dataset, enforce_file_format=True)
    return buffer.getvalue()


def as_file(dataset: Dataset) -> Dataset:
    """Give `dataset` the preamble and file meta of a DICOM file. dicomweb-client writes what it is given,
    and a dataset built in memory has neither: a PACS then stores, and later serves, a file that readers
    (dicomweb-client's among them) refuse."""
    if getattr(dataset, "preamble", None) is None:
        dataset.preamble = b"\x00" * 128
    dataset.ensure_file_meta()
    meta = dataset.file_meta
    meta.MediaStorageSOPClassUID = dataset.SOPClassUID
    meta.MediaStorageSOPInstanceUID = dataset.SOPInstanceUID
    if "TransferSyntaxUID" not in meta:
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return dataset


def read_dataset(data: bytes) -> Dataset:
    """DICOM file bytes -> a pydicom dataset, without its pixel data (for building results that refer to it)."""
    return pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True, force=True)


# What a failure means, per kind of request: "what" names the thing that was asked for in the 404 message.
_NOT_FOUND = {
    "search": "The PACS has no DICOMweb search service at the configured address (HTTP 404). Check the URL.",
    "study": "The PACS does not know this study (HTTP 404): it may have been moved or deleted.",
    "series": "The PACS does not know this series (HTTP 404): it may have been moved or deleted.",
    "store": "The PACS has no DICOMweb store service at the configured address (HTTP 404). Check the URL.",
}


@contextmanager
def _talking(request: str) -> Iterator[None]:
    """Turn the library's and the network's exceptions into PacsErrors in plain words. `from None`: the
    original exception's text quotes the URL, which may carry a patient ID."""
    try:
        yield
    except PacsError:
        raise
    except requests.exceptions.SSLError:
        raise PacsError(
            "The secure (TLS) connection to the PACS failed: its certificate is not trusted or the address "
            "does not speak HTTPS. Check the URL, or ask IT for the PACS's certificate."
        ) from None
    except requests.exceptions.Timeout:
        raise PacsError("The PACS did not answer in time. It may be busy or down; try again later.") from None
    except requests.exceptions.ConnectionError:
        raise PacsError(
            "The PACS cannot be reached: nothing answers at the configured address. Check the URL and the "
            "network, or ask IT whether the PACS is up."
        ) from None
    except requests.exceptions.HTTPError as error:
        status = error.response.status_code if error.response is not None else None
        if status in (401, 403):
            raise PacsError(
                f"The PACS refused the credentials (HTTP {status}): the user name, password or token in the "
                "PACS settings is wrong or lacks permission."
            ) from None
        if status == 404:
            raise PacsError(_NOT_FOUND[request]) from None
        raise PacsError(f"The PACS answered with an error (HTTP {status}). Try again, or ask IT.") from None
    except requests.exceptions.RequestException:
        raise PacsError("The request to the PACS failed. Check the PACS settings.") from None
    except Exception:  # a malformed answer: the parser's text could quote its content
        raise PacsError("The PACS sent an answer this app cannot read.") from None


def _study_hit(item: Dataset) -> StudyHit:
    return StudyHit(
        study_uid=str(item.get("StudyInstanceUID", "")),
        date=_iso_date(str(item.get("StudyDate", "") or "")),
        description=_text(item, "StudyDescription"),
        modalities=tuple(str(value) for value in _values(item, "ModalitiesInStudy")),
        series_count=_integer(item, "NumberOfStudyRelatedSeries"),
    )


def _series_hit(study_uid: str, item: Dataset) -> SeriesHit:
    return SeriesHit(
        study_uid=study_uid,
        series_uid=str(item.get("SeriesInstanceUID", "")),
        modality=_text(item, "Modality").upper(),
        number=_integer(item, "SeriesNumber"),
        description=_text(item, "SeriesDescription"),
        instance_count=_integer(item, "NumberOfSeriesRelatedInstances"),
    )


def _values(item: Dataset, keyword: str) -> list:
    value = item.get(keyword)
    if value is None or value == "":
        return []
    return list(value) if isinstance(value, pydicom.multival.MultiValue | list | tuple) else [value]


def _text(item: Dataset, keyword: str) -> str:
    return " ".join(str(value) for value in _values(item, keyword)).strip()


def _integer(item: Dataset, keyword: str) -> int | None:
    try:
        return int(item.get(keyword))
    except (TypeError, ValueError):
        return None


def _iso_date(value: str) -> str:
    return f"{value[:4]}-{value[4:6]}-{value[6:8]}" if re.fullmatch(r"\d{8}", value.strip()) else ""
