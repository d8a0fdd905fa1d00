"""What a labelled file's name or folders say about the scan: its MRI sequence and plane, when they say it.

Evaluation breaks results down by these, because a model that is right on one sequence can be wrong on
another. Only whole tokens count ("T1C" in "astrocitoma_T1C_009.jpeg", "axial/" as a folder), so a hash
that happens to contain "t2" says nothing. Unknown is an empty string, never a guess.
"""

from __future__ import annotations

import re

# Longest spellings first: "t1c" must win over "t1".
_SEQUENCES = {
    "T1C": ("t1c", "t1ce", "t1+c", "t1gd", "t1post", "t1_post", "t1-c"),
    "FLAIR": ("flair", "t2flair"),
    "T1": ("t1", "t1w"),
    "T2": ("t2", "t2w"),
    "DWI": ("dwi", "adc"),
}
_PLANES = {
    "axial": ("axial", "ax", "tra", "transverse"),
    "coronal": ("coronal", "cor"),
    "sagittal": ("sagittal", "sag"),
}
_TOKEN = re.compile(r"[A-Za-z0-9+]+")


def _tokens(relative_path: str) -> list[str]:
    return [token.lower() for token in _TOKEN.findall(relative_path.rsplit(".", 1)[0])]


def _first_match(tokens: list[str], table: dict[str, tuple[str, ...]]) -> str:
    for token in tokens:
        for name, spellings in table.items():
            if token in spellings:
                return name
    return ""


def sequence_from_path(relative_path: str) -> str:
    """ "T1", "T1C", "T2", "FLAIR", "DWI", or "" when the name does not say."""
    return _first_match(_tokens(relative_path), _SEQUENCES)


def sequence_from_words(text: str) -> str:
    """The same for free text, a DICOM series description ("AX T1 POST"): no file extension to drop."""
    return _first_match([token.lower() for token in _TOKEN.findall(text)], _SEQUENCES)


def plane_from_path(relative_path: str) -> str:
    """ "axial", "coronal", "sagittal", or "" when the name does not say."""
    return _first_match(_tokens(relative_path), _PLANES)
