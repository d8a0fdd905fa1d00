"""Say what a file that is not a scan looks like ("a PDF document"), so the message can tell the user.

A clinician who uploads a referral letter or a zipped series by mistake learns more from "This is a PDF
document, not an image" than from a list of formats. Only the first bytes are looked at (the signatures
files start with); nothing is parsed, so no decoder is reached by a file the app does not read.
"""

from __future__ import annotations

FORMATS = "JPG, PNG, BMP, TIFF, DICOM (.dcm or no extension), NIfTI (.nii, .nii.gz)"  # what the app reads
_UNPACK = "Unpack it and upload the scans it holds."
_EXPORT = "Export the picture as PNG or JPEG."

# (signature at offset 0, what it is, what to do). The files people pick by mistake: documents, archives,
# pictures in formats the app does not read, recordings, programs.
_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"%PDF-", "a PDF document", ""),
    (b"PK\x03\x04", "a ZIP archive (or an Office document, which is one)", _UNPACK),
    (b"PK\x05\x06", "an empty ZIP archive", ""),
    (b"Rar!\x1a\x07", "a RAR archive", _UNPACK),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive", _UNPACK),
    (b"BZh", "a bzip2-compressed file", _UNPACK),
    (b"\xfd7zXZ\x00", "an xz-compressed file", _UNPACK),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "a Microsoft Office document (Word, Excel or PowerPoint)", ""),
    (b"{\\rtf", "an RTF document", ""),
    (b"8BPS", "a Photoshop document", _EXPORT),
    (b"%!PS", "a PostScript or EPS file", _EXPORT),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", "a JPEG 2000 image", _EXPORT),
    (b"\xff\x4f\xff\x51", "a JPEG 2000 image", _EXPORT),
    (b"OggS", "an audio or video recording", ""),
    (b"ID3", "an MP3 audio file", ""),
    (b"\x1a\x45\xdf\xa3", "a video (WebM or MKV)", ""),
    (b"\x7fELF", "a program (an executable file)", ""),
    (b"MZ", "a Windows program (an executable file)", ""),
    (b"SQLite format 3\x00", "a database file", ""),
)
# ISO base media files ("....ftyp" + brand): phones save photos this way; cameras and screens save videos.
_PHOTO_BRANDS = {
    b"heic": "a HEIC photo (as phones save them)",
    b"heix": "a HEIC photo (as phones save them)",
    b"mif1": "a HEIF photo (as phones save them)",
    b"avif": "an AVIF image",
}
_TEXT_SAMPLE = 4096
_PICTURE_KINDS = {
    "a JPEG 2000 image",
    "a Photoshop document",
    "a PostScript or EPS file",
    "an SVG drawing",
    *_PHOTO_BRANDS.values(),
}


def is_picture_kind(kind: str) -> bool:
    """Whether a kind describe_kind names is a picture (in a format the app does not read): "This is a
    JPEG 2000 image, not an image" would say nonsense."""
    return kind in _PICTURE_KINDS


def describe_kind(data: bytes) -> tuple[str, str] | None:
    """(what the bytes look like, as a phrase for "This is ___"; advice, or ""), or None if nothing known."""
    for signature, kind, advice in _SIGNATURES:
        if data.startswith(signature):
            return kind, advice
    if data[4:8] == b"ftyp":
        brand = data[8:12]
        if brand in _PHOTO_BRANDS:
            return _PHOTO_BRANDS[brand], _EXPORT
        return "a video or audio recording (MP4, MOV or similar)", ""
    if data[:4] == b"RIFF" and data[8:12] in (b"WAVE", b"AVI "):
        return "an audio or video recording", ""
    return _describe_text(data[:_TEXT_SAMPLE])


def _describe_text(sample: bytes) -> tuple[str, str] | None:
    if not sample or b"\x00" in sample:
        return None
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as error:
        if error.start < len(sample) - 4:  # more than a character cut in half at the end of the sample
            return None
        text = sample[: error.start].decode("utf-8")
    printable = sum(character.isprintable() or character in "\t\r\n\f" for character in text)
    if not text or printable < 0.95 * len(text):
        return None
    head = text.lstrip("\ufeff \t\r\n").lower()
    if head.startswith("<svg") or (head.startswith("<?xml") and "<svg" in head):
        return "an SVG drawing", _EXPORT
    if head.startswith(("<!doctype html", "<html")):
        return "a web page (HTML)", ""
    if head.startswith("<?xml"):
        return "an XML file", ""
    return "a text file", ""
