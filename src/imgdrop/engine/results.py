"""What the engine returns: one Thumbnail per width, plus facts about the source."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Thumbnail:
    """One output image."""

    width: int
    height: int
    format: str
    content_type: str
    data: bytes

    @property
    def ext(self) -> str:
        """File extension for this format."""
        return "jpg" if self.format == "jpeg" else self.format


@dataclass(frozen=True)
class Thumbnails(Sequence[Thumbnail]):
    """One Thumbnail per requested width, plus facts about the source for the catalog.

    `source_width`/`source_height` are as displayed (after EXIF orientation); `placeholder` is a
    base64 ThumbHash; `notes` are human-readable remarks (first frame used, colour converted).
    """

    items: tuple[Thumbnail, ...]
    source_format: str
    source_width: int
    source_height: int
    placeholder: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index):  # type: ignore[override]
        return self.items[index]

    def __iter__(self) -> Iterator[Thumbnail]:
        return iter(self.items)
