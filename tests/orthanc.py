"""A real Orthanc PACS with its DICOMweb plugin, for tests: started on free localhost ports with a temporary
storage folder and basic auth, stopped after. Debian packages `orthanc` and `orthanc-dicomweb`.

Where the binaries are missing the tests that need it are skipped, unless REQUIRE_ORTHANC=1 (CI), where that
is a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from core.pacs import PacsSettings

PLUGIN_PATHS = [
    Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so"),  # Debian's orthanc-dicomweb
    Path("/usr/lib/orthanc/libOrthancDicomWeb.so"),
]
USER, PASSWORD = "radiologist", "correct-horse"
START_TIMEOUT = 30.0


@dataclass(frozen=True)
class Orthanc:
    port: int
    process: subprocess.Popen

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.root}/dicom-web"

    def settings(self, **changes) -> PacsSettings:
        values = {"url": self.dicomweb, "username": USER, "password": PASSWORD, "timeout": 10.0}
        return PacsSettings(**{**values, **changes})

    def clear(self) -> None:
        """Delete every patient, so each test starts from an empty PACS."""
        auth = (USER, PASSWORD)
        for patient in requests.get(f"{self.root}/patients", auth=auth, timeout=10).json():
            requests.delete(f"{self.root}/patients/{patient}", auth=auth, timeout=10).raise_for_status()


def binaries() -> tuple[str | None, Path | None]:
    executable = shutil.which("Orthanc") or next(
        (path for path in ("/usr/sbin/Orthanc", "/usr/bin/Orthanc") if os.access(path, os.X_OK)), None
    )
    plugin = next((path for path in PLUGIN_PATHS if path.exists()), None)
    return executable, plugin


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_orthanc(folder: Path) -> Orthanc:
    executable, plugin = binaries()
    if executable is None or plugin is None:
        reason = "Orthanc with its DICOMweb plugin is not installed (apt-get install orthanc orthanc-dicomweb)"
        if os.environ.get("REQUIRE_ORTHANC") == "1":
            pytest.fail(f"REQUIRE_ORTHANC=1 but {reason}")
        pytest.skip(reason)
    http_port, dicom_port = free_port(), free_port()
    while dicom_port == http_port:
        dicom_port = free_port()
    storage = folder / "storage"
    storage.mkdir(parents=True)
    config = {
        "Name": "pytest",
        "StorageDirectory": str(storage),
        "IndexDirectory": str(storage),
        "HttpPort": http_port,
        "DicomPort": dicom_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": True,
        "RegisteredUsers": {USER: PASSWORD},
        "Plugins": [str(plugin)],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "StableAge": 1,
    }
    (folder / "orthanc.json").write_text(json.dumps(config))
    log = open(folder / "orthanc.log", "wb")  # noqa: SIM115  (the process writes to it until it stops)
    process = subprocess.Popen([executable, str(folder / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT)
    server = Orthanc(http_port, process)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Orthanc exited at start: {(folder / 'orthanc.log').read_text()[-2000:]}")
        try:
            if requests.get(f"{server.dicomweb}/studies", auth=(USER, PASSWORD), timeout=1).ok:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.1)
    stop_orthanc(server)
    raise RuntimeError(f"Orthanc did not answer within {START_TIMEOUT:.0f} s")


def stop_orthanc(server: Orthanc) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        server.process.kill()
        server.process.wait()


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory):
    server = start_orthanc(tmp_path_factory.mktemp("orthanc"))
    yield server
    stop_orthanc(server)


@pytest.fixture
def empty_orthanc(orthanc) -> Orthanc:
    orthanc.clear()
    return orthanc
