"""Section labels as operators write them: "Ekonomi/Economy" (Turkish/English) or one label for both."""

from __future__ import annotations

from dataclasses import dataclass

from bot.text import normalize_text
from storage.models import Section

SECTION_LABEL_MAX = 40  # characters per label; a label is a button and a list line, not a sentence


@dataclass(frozen=True)
class SectionLabel:
    """A section's Turkish and English label; `both` says the operator gave two (a rename, if it exists)."""

    tr: str
    en: str
    both: bool

    def __str__(self) -> str:
        return f"{self.tr}/{self.en}" if self.both else self.tr


def parse_section_label(text: str) -> SectionLabel | None:
    """`Ekonomi/Economy` or `Spor`; None when a label is empty, too long, or there are more than two."""
    if len(text) > 4 * SECTION_LABEL_MAX:  # hostile sizes are refused before any work
        return None
    parts = [" ".join(normalize_text(part).split()) for part in text.split("/")]
    if len(parts) > 2 or not all(_usable(part) for part in parts):
        return None
    if len(parts) == 1:
        return SectionLabel(parts[0], parts[0], both=False)
    return SectionLabel(parts[0], parts[1], both=True)


def _usable(label: str) -> bool:
    return 0 < len(label) <= SECTION_LABEL_MAX and any(ch.isalnum() for ch in label)


def shown(value: str, limit: int = 40) -> str:
    """An operator's bad value, cut short for the answer that refuses it."""
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 1] + "…"


def section_name(section: Section) -> str:
    """`Ekonomi/Economy`, or `Spor` when both labels are the same: how operators see a section."""
    if section.label_tr == section.label_en:
        return section.label_tr
    return f"{section.label_tr}/{section.label_en}"
