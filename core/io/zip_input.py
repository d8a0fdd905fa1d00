"""Read a ZIP of labelled scans into memory, refusing archives that could hurt the server.

Nothing is extracted to disk: members are read as bytes. Before any member is decompressed, the archive's
own directory is checked: the number of members and their total uncompressed size are bounded (a "ZIP
bomb" of a few kilobytes can unpack to terabytes), and a member whose path is absolute or climbs out with
`../` makes the whole archive refused, because an archive built that way is not an innocent export. A
member that lies about its size cannot exceed what it declared: Python's zipfile stops at the declared
size and the checksum then fails, so such a member is listed as unreadable.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field

MAX_MEMBERS = 20_000
MAX_TOTAL_BYTES = 1 << 30  # 1 GiB uncompressed: ~20,000 slices of an ordinary export
# Folders and files that archivers add and that are not scans.
_IGNORED = re.compile(r"(^|/)(__MACOSX|\.DS_Store|Thumbs\.db|desktop\.ini)(/|$)|(^|/)\._[^/]*$")


class RefusedArchive(ValueError):
    """The archive as a whole is not read; the message says why, for the user."""


@dataclass
class ZipContents:
    members: list[tuple[str, bytes]] = field(default_factory=list)  # (path inside the archive, bytes)
    unreadable: list[dict] = field(default_factory=list)  # {"path", "reason"}


def is_zip(data: bytes) -> bool:
    return data[:4] in (b"PK\x03\x04", b"PK\x05\x06")


def read_zip(data: bytes, max_members: int | None = None, max_total_bytes: int | None = None) -> ZipContents:
    """Every member's bytes (folders and archiver clutter skipped); RefusedArchive for an unsafe archive."""
    max_members = MAX_MEMBERS if max_members is None else max_members
    max_total_bytes = MAX_TOTAL_BYTES if max_total_bytes is None else max_total_bytes
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError):
        raise RefusedArchive("The ZIP file is damaged or not a ZIP file, so none of it was read.") from None
    with archive:
        infos = [info for info in archive.infolist() if not info.is_dir() and not _IGNORED.search(info.filename)]
        for info in infos:
            if unsafe_path(info.filename):
                raise RefusedArchive(
                    f"The ZIP file was refused: it contains a file stored outside its own folder ({info.filename!r}). "
                    "Make the ZIP again from the folder of scans."
                )
        if len(infos) > max_members:
            raise RefusedArchive(
                f"The ZIP file holds {len(infos):,} files, more than the {max_members:,} this page validates at once. "
                "Split it into smaller ZIP files."
            )
        total = sum(info.file_size for info in infos)
        if total > max_total_bytes:
            raise RefusedArchive(
                f"The ZIP file would unpack to {total / 2**20:,.0f} MB, more than the "
                f"{max_total_bytes / 2**20:,.0f} MB this page accepts, so none of it was read. "
                "Split it into smaller ZIP files."
            )
        contents = ZipContents()
        for info in infos:
            try:
                contents.members.append((info.filename, archive.read(info)))
            except RuntimeError:  # zipfile's error for an encrypted member
                contents.unreadable.append({"path": info.filename, "reason": "The file is password-protected."})
            except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError):
                contents.unreadable.append(
                    {"path": info.filename, "reason": "The file is damaged inside the ZIP and could not be unpacked."}
                )
        return contents


def unsafe_path(name: str) -> bool:
    """An absolute path, a Windows drive, or a `..` step: a member that would land outside its folder."""
    normal = name.replace("\\", "/")
    return normal.startswith("/") or bool(re.match(r"^[A-Za-z]:", normal)) or ".." in normal.split("/")
