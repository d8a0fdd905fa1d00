import csv
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from core.predict import main

ROOT = Path(__file__).resolve().parents[1]
COLUMNS = [
    "path",
    "prediction",
    "confidence",
    "p_glioma",
    "p_meningioma",
    "p_notumor",
    "p_pituitary",
    "status",
    "message",
]


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
        assert float(row["confidence"]) == max(float(row[c]) for c in COLUMNS[3:7])


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
        [sys.executable, "-m", "core.predict", str(scan), "--weights", str(answering_weights)],
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
