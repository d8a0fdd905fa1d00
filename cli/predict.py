"""Batch prediction: `python -m cli.predict PATH [PATH ...] [--weights DIR] [--csv FILE [--force]]`.

Files and folders (recursive), read by content like the app reads uploads: images, DICOM (its middle frame)
and NIfTI (its middle axial slice). One CSV row per file (columns: core/report/results.py); a file that cannot be
read is a row with status `error` and the reason, never a crash. The CSV goes to stdout unless --csv names
a file; progress to stderr.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from core.labels import ERROR
from core.run.paths import DEFAULT_WEIGHTS

if TYPE_CHECKING:  # the type only: importing core.report.results loads PyTorch
    from core.report.results import ScanResult

# Exit statuses, for scripts that run the CLI: whether to trust the CSV as complete.
EXIT_ALL_READ = 0  # every file was read and assessed (ok, uncertain, not_mri or too_small)
EXIT_SOME_FAILED = 1  # some files could not be read; their rows say why
EXIT_NONE_READ = 2  # no file could be read (or none was found), or the command itself was wrong
EXIT_STATUS_HELP = f"""exit status:
  {EXIT_ALL_READ}  every file was read (each row's status is ok, uncertain, not_mri or too_small)
  {EXIT_SOME_FAILED}  some files could not be read (their rows have status error and say why)
  {EXIT_NONE_READ}  no file could be read or none was found, or the command line or weights are wrong
"""


class Tally:
    """Counts results as they pass on to the writer, for the exit status."""

    def __init__(self, results: Iterable[ScanResult]):
        self._results = results
        self.read = self.failed = 0

    def __iter__(self) -> Iterator[ScanResult]:
        for result in self._results:
            if result.status == ERROR:
                self.failed += 1
            else:
                self.read += 1
            yield result

    def exit_code(self) -> int:
        """EXIT_ALL_READ, EXIT_SOME_FAILED, or EXIT_NONE_READ (also when there was no file at all)."""
        if not self.read:
            return EXIT_NONE_READ
        return EXIT_SOME_FAILED if self.failed else EXIT_ALL_READ


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cli.predict",
        description=__doc__.split("\n")[0],
        epilog=EXIT_STATUS_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="+", help="image files or folders (searched recursively)")
    parser.add_argument("--weights", default=str(DEFAULT_WEIGHTS), help="weights folder (default: weights/default)")
    parser.add_argument("--csv", help="write the CSV here instead of stdout (replaced only when complete)")
    parser.add_argument(
        "--force", action="store_true", help="let --csv replace a file that is not a CSV this tool wrote"
    )
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when available)")
    args = parser.parse_args(argv)

    # Loaded after the arguments are parsed: they import PyTorch (seconds), which `--help` has no use for.
    from cli import predict_files
    from core.model.checkpoint import CheckpointError
    from core.model.inference import Classifier
    from core.report.results import Provenance, write_results_csv

    try:
        if args.csv:
            predict_files.check_destination(Path(args.csv), args.force)  # before loading the model: fail fast
        classifier = Classifier(args.weights, device=args.device)
        files = predict_files.expand_paths(args.paths)
        results = predict_files.classify_files(classifier, files)
        results = tqdm(results, total=len(files), unit="scan", file=sys.stderr, disable=None)
        tally = Tally(results)
        provenance = Provenance.of_metadata(classifier.metadata)
        if args.csv:
            with predict_files.csv_output(Path(args.csv), args.force) as handle:
                write_results_csv(tally, classifier.classes, provenance, handle)
        else:
            write_results_csv(tally, classifier.classes, provenance, sys.stdout)
    except (CheckpointError, predict_files.OutputError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_NONE_READ
    return tally.exit_code()


if __name__ == "__main__":
    sys.exit(main())
