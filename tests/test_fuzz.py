"""Fuzz: over a thousand damaged files (tests/fuzz_corpus.py) through what the app does with an upload.

`load_scan`, then `render()`, `facts()`, `describe()`, and the model's preprocessing (`to_uint8`). Each file
must either give a finite float32 picture in [0, 1] or be refused with an `UnreadableScanError` whose
message is non-empty and quotes no patient field; no other exception; no file slower than MAX_SECONDS; and
memory that follows what was decoded, never what a header claims. The corpus runs once; the tests read its
record.

Run `pytest tests/test_fuzz.py -s` to see the figures (files, decoded, refused, slowest, largest).
"""

from __future__ import annotations

import time
import traceback
from dataclasses import dataclass

import numpy as np
import pytest

from core.io.image_io import UnreadableScanError
from core.io.scan_io import UnexpectedDecodingError, load_scan
from core.model.preprocessing import Preprocessing
from tests import peak_memory
from tests.fuzz_corpus import Mutant, corpus, seeds
from tests.scan_files import PATIENT_VALUES
from tests.test_hostile_inputs import PYTHON_EXCEPTION_NAME

# Decoders warn about the damage they meet (that is the corpus); their warnings say nothing the test needs.
pytestmark = [
    pytest.mark.filterwarnings("ignore::UserWarning:pydicom.*"),
    pytest.mark.filterwarnings("ignore::UserWarning:PIL.*"),
    pytest.mark.filterwarnings("ignore::RuntimeWarning:nibabel.*"),
]
PER_SEED = 60  # × 22 seeds = 1,320 files
# Seeds are 1-20 kB and 40 px a side; decoding one takes milliseconds. A mutated header can make a seed as
# large as the limits allow (4,096 px a side, padded to a 16.7-megapixel square by the preprocessing), which
# takes about 0.5 s here; 2 s leaves room for a slower machine, and catches a decoder that loops over what a
# header declares instead of the data that is there.
MAX_SECONDS = 2.0
MB = 1024 * 1024
# A refused file is refused before its pixels are allocated: a few kB of parsing.
MAX_MEMORY_REFUSED = 32 * MB
# A decoded file costs memory in proportion to its picture: the preprocessing pads it to the square of its
# longer side and holds that square in float32 (4 B a pixel) two or three times over, next to the decoded
# picture itself; 24 B a pixel of that square is about twice what it takes.
BYTES_PER_SQUARE_PIXEL = 24
PREPROCESSING = Preprocessing()


@dataclass
class Outcome:
    mutant: Mutant
    seconds: float
    memory: int | None  # peak growth of the resident set, bytes (None where the kernel does not say)
    square: int  # pixels of the square the preprocessing padded the picture to (0 when refused)
    problem: str = ""  # why this outcome breaks the contract ("" when it keeps it)

    @property
    def decoded(self) -> bool:
        return self.square > 0


def check(mutant: Mutant) -> tuple[int, str]:
    """(pixels of the padded square, 0 if refused; problem) for one file, through everything the app does
    with an upload before the model."""
    try:
        scan = load_scan(mutant.data, "upload")
        picture = scan.render()
        said = " ".join([repr(scan), scan.describe(), *scan.facts().values()])
        model_input = PREPROCESSING.to_uint8(picture)
    except UnexpectedDecodingError as error:  # refused, but only by the last-resort boundary: a decoder bug
        cause = error.__cause__
        return (
            0,
            f"unanticipated {type(cause).__name__}: {cause}\n{''.join(traceback.format_tb(cause.__traceback__)[-3:])}",
        )
    except UnreadableScanError as error:
        message = str(error)
        if not message.strip():
            return 0, "refused with an empty message"
        leaked = [value for value in PATIENT_VALUES if value in message]
        if leaked:
            return 0, f"message quotes patient fields {leaked}: {message}"
        if PYTHON_EXCEPTION_NAME.search(message):  # a clinician cannot act on "(TypeError)"
            return 0, f"message names a Python exception: {message}"
        return 0, ""
    except Exception as error:
        return 0, f"{type(error).__name__}: {error}\n{traceback.format_exc(limit=-3)}"
    square = max(picture.shape) ** 2 if picture.ndim == 2 else 1
    if picture.dtype != np.float32 or picture.ndim != 2 or min(picture.shape) < 1:
        return square, f"picture is {picture.dtype} {picture.shape}"
    if not np.isfinite(picture).all() or picture.min() < 0.0 or picture.max() > 1.0:
        return square, f"picture values outside [0, 1]: {picture.min()}..{picture.max()}"
    if model_input.dtype != np.uint8 or model_input.shape != (PREPROCESSING.img_size,) * 2:
        return square, f"model input is {model_input.dtype} {model_input.shape}"
    if any(value in said for value in PATIENT_VALUES):
        return square, f"facts or repr quote a patient field: {said}"
    return square, ""


def measure(mutant: Mutant, memory: bool) -> Outcome:
    started = time.perf_counter()
    if memory:
        with peak_memory.peak_memory() as peak:
            square, problem = check(mutant)
        growth = peak.growth
    else:
        square, problem = check(mutant)
        growth = None
    return Outcome(mutant, time.perf_counter() - started, growth, square, problem)


@pytest.fixture(scope="module")
def outcomes() -> list[Outcome]:
    memory = peak_memory.available()
    for data in seeds().values():  # warm the decoders' lazy imports, so the first file is not timed with them
        load_scan(data, "seed").render()
    record = [measure(mutant, memory) for mutant in corpus(PER_SEED)]
    slowest = max(record, key=lambda o: o.seconds)
    decoded = sum(o.decoded for o in record)
    print(
        f"\nfuzz: {len(record)} files, {decoded} decoded, {len(record) - decoded} refused; "
        f"slowest {slowest.seconds * 1000:.0f} ms ({slowest.mutant.label})"
    )
    if memory:
        for decoded in (True, False):
            mine = [o for o in record if o.decoded == decoded]
            largest = max(mine, key=lambda o: o.memory)
            print(
                f"fuzz: largest peak memory growth, {'decoded' if decoded else 'refused'}: "
                f"{largest.memory / MB:.1f} MB ({largest.mutant.label})"
            )
    return record


def test_the_corpus_is_large_and_reaches_both_outcomes_for_every_format(outcomes):
    assert len(outcomes) >= 1000
    for seed in seeds():
        mine = [o for o in outcomes if o.mutant.seed == seed]
        assert any(o.decoded for o in mine) and not all(o.decoded for o in mine), seed


def test_every_file_decodes_or_is_refused_with_a_message(outcomes):
    problems = [f"{o.mutant.label}: {o.problem}" for o in outcomes if o.problem]
    assert not problems, f"{len(problems)} file(s) break the contract:\n" + "\n".join(problems[:20])


def test_no_file_takes_longer_than_the_bound(outcomes):
    slow = [f"{o.mutant.label}: {o.seconds:.2f} s" for o in outcomes if o.seconds > MAX_SECONDS]
    assert not slow, "\n".join(slow)


def test_refused_files_allocate_next_to_nothing(outcomes):
    if outcomes[0].memory is None:
        pytest.skip("the kernel's peak-memory counter (/proc/self/clear_refs) is not available here")
    refused = [o for o in outcomes if not o.decoded]
    large = [f"{o.mutant.label}: {o.memory / MB:.0f} MB" for o in refused if o.memory > MAX_MEMORY_REFUSED]
    assert not large, "\n".join(large)


def test_decoded_files_cost_memory_in_proportion_to_their_picture(outcomes):
    if outcomes[0].memory is None:
        pytest.skip("the kernel's peak-memory counter (/proc/self/clear_refs) is not available here")
    decoded = [o for o in outcomes if o.decoded]
    bound = {id(o): MAX_MEMORY_REFUSED + BYTES_PER_SQUARE_PIXEL * o.square for o in decoded}
    large = [
        f"{o.mutant.label}: {o.memory / MB:.0f} MB for a {o.square**0.5:.0f}-pixel square"
        for o in decoded
        if o.memory > bound[id(o)]
    ]
    assert not large, "\n".join(large)
