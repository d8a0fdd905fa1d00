import csv
import io
import json
import os
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from cli.predict import main

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = [
    "path",
    "view",
    "prediction",
    "confidence",
    "p_glioma",
    "p_meningioma",
    "p_notumor",
    "p_pituitary",
    "status",
    "message",
    "outlined_pixels",
    "outlined_mm2",
    "modality",
    "plane",
    "sequence",
    "model",
    "weights_sha256",
    "generated_at",
]
PROBABILITIES = COLUMNS[4:8]


@pytest.fixture
def folder_with_bad_files(tmp_path, synthetic_dataset):
    folder = tmp_path / "scans"
    shutil.copytree(synthetic_dataset / "Testing" / "glioma", folder / "nested")
    (folder / "corrupt.jpg").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    (folder / "notes.jpg").write_text("this is a text file")
    (folder / "empty.png").write_bytes(b"")
    return folder


def rows_of(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_folder_with_corrupt_files_gives_error_rows_not_a_crash(folder_with_bad_files, answering_weights, capsys):
    assert main([str(folder_with_bad_files), "--weights", str(answering_weights), "--device", "cpu"]) == 1
    output = capsys.readouterr().out
    assert output.splitlines()[0] == ",".join(COLUMNS)
    rows = {Path(row["path"]).name: row for row in rows_of(output)}
    assert len(rows) == 6
    for name in ("corrupt.jpg", "notes.jpg", "empty.png"):
        assert rows[name]["status"] == "error" and rows[name]["message"] and rows[name]["prediction"] == ""
    ok = [row for row in rows.values() if row["status"] == "ok"]
    assert len(ok) == 3
    for row in ok:
        assert row["prediction"] in ("glioma", "meningioma", "notumor", "pituitary")
        assert float(row["confidence"]) == max(float(row[c]) for c in PROBABILITIES)


def test_exit_status_says_whether_every_file_was_read(tmp_path, synthetic_dataset, tiny_weights, capsys):
    """0: every file read; 1: some failed; 2: none read (or none found): a script can tell them apart."""
    good = next((synthetic_dataset / "Testing" / "notumor").iterdir())
    bad = tmp_path / "notes.jpg"
    bad.write_text("not a scan")
    empty_folder = tmp_path / "empty"
    empty_folder.mkdir()
    weights = ["--weights", str(tiny_weights), "--device", "cpu"]
    assert main([str(good), *weights]) == 0
    assert main([str(good), str(bad), *weights]) == 1
    assert main([str(bad), str(tmp_path / "missing.png"), *weights]) == 2
    assert main([str(empty_folder), *weights]) == 2


def test_help_documents_the_exit_status(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "exit status:" in text and "some files could not be read" in text and "no file could be read" in text


def test_missing_path_is_an_error_row(tmp_path, tiny_weights, capsys):
    assert main([str(tmp_path / "nope.png"), "--weights", str(tiny_weights), "--device", "cpu"]) == 2
    (row,) = rows_of(capsys.readouterr().out)
    assert row["status"] == "error" and "No such file" in row["message"]


def test_predictions_reproduce_the_reported_test_accuracy(synthetic_dataset, answering_weights, tmp_path):
    out = tmp_path / "out.csv"
    main(
        [str(synthetic_dataset / "Testing"), "--weights", str(answering_weights), "--csv", str(out), "--device", "cpu"]
    )
    rows = rows_of(out.read_text())
    accuracy = sum(Path(row["path"]).parent.name == row["prediction"] for row in rows) / len(rows)
    metrics = json.loads((answering_weights / "metrics.json").read_text())
    assert accuracy == pytest.approx(metrics["test"]["full"]["accuracy"])
    reported = {row["path"]: row for row in rows_of((answering_weights / "predictions.csv").read_text())}
    for row in rows:
        expected = reported[str(Path(row["path"]).relative_to(synthetic_dataset))]
        assert float(row["p_glioma"]) == pytest.approx(float(expected["p_glioma"]), abs=1e-5)


def test_module_entry_point_writes_csv_to_stdout_and_progress_elsewhere(synthetic_dataset, answering_weights):
    scan = next((synthetic_dataset / "Testing" / "notumor").iterdir())
    result = subprocess.run(
        [sys.executable, "-m", "cli.predict", str(scan), "--weights", str(answering_weights)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    (row,) = rows_of(result.stdout)
    assert row["status"] == "ok" and row["path"] == str(scan)


def test_damaged_weights_are_a_clear_error(tmp_path, tiny_weights, capsys):
    damaged = tmp_path / "damaged"
    shutil.copytree(tiny_weights, damaged)
    with open(damaged / "model.safetensors", "r+b") as handle:
        handle.seek(-4, 2)
        handle.write(b"\x00\x01\x02\x03")
    assert main([str(tmp_path), "--weights", str(damaged)]) == 2
    assert "does not match the sha256" in capsys.readouterr().err


def cli(*arguments, weights) -> int:
    return main([*map(str, arguments), "--weights", str(weights), "--device", "cpu"])


@pytest.fixture
def scan(tmp_path, synthetic_dataset) -> Path:
    source = next((synthetic_dataset / "Testing" / "notumor").iterdir())
    path = tmp_path / "scan.png"
    shutil.copy(source, path)
    return path


def test_every_row_names_the_model_weights_time_and_the_picture_classified(tmp_path, scan, tiny_weights, capsys):
    from tests.phantoms import phantom
    from tests.scan_files import dicom_bytes

    series = tmp_path / "series.dcm"
    series.write_bytes(dicom_bytes(np.stack([phantom(s, "glioma", 64).astype(np.uint16) for s in (1, 2, 3)])))
    assert cli(scan, series, weights=tiny_weights) == 0
    rows = {Path(row["path"]).name: row for row in rows_of(capsys.readouterr().out)}
    metadata = json.loads((tiny_weights / "metadata.json").read_text())
    for row in rows.values():
        assert row["model"] == metadata["name"] and row["weights_sha256"] == metadata["weights_sha256"]
        assert datetime.fromisoformat(row["generated_at"]).tzinfo is not None
    assert rows["series.dcm"]["view"] == "frame 2 of 3" and rows["scan.png"]["view"] == ""


def test_a_file_name_that_is_not_utf8_gets_its_row(tmp_path, scan, tiny_weights):
    latin1 = tmp_path / os.fsdecode(b"IRM_cr\xe2ne_\xe9t\xe9.png")
    shutil.copy(scan, latin1)
    out = tmp_path / "out.csv"
    assert cli(latin1, scan, "--csv", out, weights=tiny_weights) == 0
    rows = rows_of(out.read_bytes().decode("utf-8"))
    assert [Path(row["path"]).name for row in rows] == ["IRM_cr\\xe2ne_\\xe9t\\xe9.png", "scan.png"]


def test_csv_refuses_to_overwrite_a_file_it_did_not_write(tmp_path, scan, tiny_weights, capsys):
    """`--csv *.png` in a shell puts a scan where the CSV goes: it is left alone unless --force."""
    other = tmp_path / "other.png"
    shutil.copy(scan, other)
    before = other.read_bytes()
    assert cli(scan, "--csv", other, weights=tiny_weights) == 2
    assert other.read_bytes() == before
    assert "not a results CSV written by this tool" in capsys.readouterr().err
    assert cli(scan, "--csv", other, "--force", weights=tiny_weights) == 0
    assert rows_of(other.read_text())[0]["path"] == str(scan)


def test_csv_replaces_its_own_earlier_csv_atomically(tmp_path, scan, tiny_weights, monkeypatch):
    out = tmp_path / "results.csv"
    assert cli(scan, "--csv", out, weights=tiny_weights) == 0
    first = out.read_text()
    assert cli(scan, scan, "--csv", out, weights=tiny_weights) == 0  # its own CSV: replaced without --force
    assert len(rows_of(out.read_text())) == 2

    def fail_midway(classifier, paths):
        yield from []
        raise RuntimeError("interrupted")

    out.write_text(first)
    monkeypatch.setattr("cli.predict_files.classify_files", fail_midway)
    with pytest.raises(RuntimeError):
        cli(scan, "--csv", out, weights=tiny_weights)
    assert out.read_text() == first  # written to a temporary file, renamed only when complete
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv", "scan.png"]  # no temporary file left


@pytest.mark.parametrize(
    ("target", "said"),
    [
        (lambda tmp: tmp, "is a folder"),
        (lambda tmp: tmp / "scan.png" / "out.csv", "cannot write the CSV"),
    ],
    ids=["folder", "below-a-file"],
)
def test_csv_to_an_unusable_path_is_a_plain_message(tmp_path, scan, tiny_weights, capsys, target, said):
    assert cli(scan, "--csv", target(tmp_path), weights=tiny_weights) == 2
    err = capsys.readouterr().err
    assert said in err and "Traceback" not in err and "Error" not in err


def test_help_answers_without_loading_pytorch():
    """`--help` is read before anything else; loading PyTorch for it took 6-10 s on 2 cores."""
    check = (
        "import sys\n"
        "from cli.predict import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit as done:\n    assert done.code == 0\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    repository = Path(__file__).parent.parent
    shown = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=repository, check=True)
    assert "exit status:" in shown.stdout


def test_a_mask_head_models_rows_carry_the_area_the_page_outlines(
    outlined_dataset, answering_weights, monkeypatch, capsys
):
    """The CLI's outline columns come from the page's own rule (core.decide.assessment.shown_outline), here with a
    stand-in mask head whose region is a known square."""
    import cli.predict_files
    from core.decide.assessment import Assessment, shown_outline
    from core.io.image_io import read_image
    from core.model.inference import Classifier

    classifier = Classifier(answering_weights, device="cpu")
    size = classifier.preprocessing.img_size
    square = np.zeros((size, size), np.float32)
    square[size // 4 : size // 2, size // 4 : size // 2] = 0.95
    answer = Assessment(
        "ok", {"glioma": 0.97, "meningioma": 0.01, "notumor": 0.01, "pituitary": 0.01}, tumour_mask=square
    )
    monkeypatch.setattr(cli.predict_files, "assess_or_none", lambda _classifier, grays: [answer] * len(grays))
    data, _ = outlined_dataset
    scans = sorted((data / "Testing").rglob("*.png"))[:3]
    assert main([*map(str, scans), "--weights", str(answering_weights), "--device", "cpu"]) == 0
    rows = {Path(row["path"]).name: row for row in rows_of(capsys.readouterr().out)}
    for path in scans:
        expected = shown_outline(classifier, answer, read_image(path.read_bytes()), None)
        assert expected.pixels > 0 and rows[path.name]["outlined_pixels"] == str(expected.pixels)
        assert rows[path.name]["outlined_mm2"] == ""  # a picture: no pixel spacing, so no mm²
