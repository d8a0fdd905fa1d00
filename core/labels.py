"""How class names and answers read to a clinician, shared by the app and the printable report."""

from __future__ import annotations

NO_TUMOUR = "notumor"
_DISPLAY = {
    "glioma": "Glioma",
    "meningioma": "Meningioma",
    "notumor": "No tumour",
    "pituitary": "Pituitary tumour",
}
ERROR = "error"  # the status of a file that could not be read (the others are the assessment's)
# What a status other than "ok" means to the reader; the trust-and-safety work defines the statuses.
STATUS_TEXT = {
    "ok": "classified",
    "uncertain": "uncertain",
    "not_mri": "unlike the scans the model was trained on",
    "too_small": "too small to classify",
    "error": "could not be read",
}


def display_name(name: str) -> str:
    """ "notumor" -> "No tumour"; a class this table does not know is shown as written, capitalised."""
    return _DISPLAY.get(name, name[:1].upper() + name[1:])


def status_text(status: str) -> str:
    return STATUS_TEXT.get(status, status.replace("_", " "))


def tumour_probability(probabilities: dict[str, float]) -> float | None:
    """P(any tumour) = 1 - P(no tumour); None when the model has no "no tumour" class to summarise with."""
    if NO_TUMOUR not in probabilities:
        return None
    return float(sum(p for name, p in probabilities.items() if name != NO_TUMOUR))


# Spellings of the classes in common public datasets and hospital exports; anything else is for a person to map.
_SPELLINGS = {
    "glioma": ("glioma", "glioma_tumor", "glioma_tumour", "gliomas"),
    "meningioma": ("meningioma", "meningioma_tumor", "meningioma_tumour", "meningiomas"),
    "notumor": ("notumor", "no_tumor", "no_tumour", "notumour", "no tumor", "no tumour", "normal", "healthy", "none"),
    "pituitary": ("pituitary", "pituitary_tumor", "pituitary_tumour", "pituitary tumor", "pituitary adenoma"),
}

KNOWN_CLASSES = list(_SPELLINGS)


def canonical_label(text: str, classes: list[str]) -> str | None:
    """The model's class for a label as a dataset spells it ("no_tumor", "Normal", "glioma_tumor"),
    case-insensitive; None when it is not a known spelling of one of `classes` (never guessed)."""
    key = " ".join(str(text).strip().lower().replace("-", "_").split())
    for name in classes:
        if key == name.lower() or key in _SPELLINGS.get(name, ()) or key.replace(" ", "_") in _SPELLINGS.get(name, ()):
            return name
    return None
