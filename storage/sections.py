"""Sections: created once per label (Turkish or English, any case or accent), listed while in use."""

from __future__ import annotations

from storage.database import Database, Row
from storage.folding import fold_text
from storage.models import Section

GENERAL = 1  # articles from a feed without a section, /post and imports without one (migration 0012)


class Sections:
    """The outlet's sections; readers see those that have a feed or an article."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def ensure(self, label_tr: str, label_en: str, *, rename: bool = False) -> tuple[Section, bool]:
        """The section either label names (folded), created if none does; `rename` sets both labels.

        Returns the section and whether it was created or renamed.
        """
        folded_tr, folded_en = fold_text(label_tr), fold_text(label_en)
        if not folded_tr or not folded_en:
            raise ValueError("a section label needs a letter or a digit")
        async with self._db.transaction() as tx:
            sections = [_section(row) for row in await tx.fetchall("SELECT * FROM sections ORDER BY id")]
            found = _match(sections, folded_tr, folded_en)
            if found is None:
                key = folded_tr if folded_tr == folded_en else f"{folded_tr}/{folded_en}"
                row = await tx.fetchone(
                    "INSERT INTO sections (key, label_tr, label_en) VALUES (?, ?, ?) "
                    "ON CONFLICT (key) DO NOTHING RETURNING *",
                    (key, label_tr, label_en),
                )
                created = row is not None
                if row is None:  # a renamed section kept this key: it is the one meant
                    row = await tx.fetchone("SELECT * FROM sections WHERE key = ?", (key,))
                assert row is not None
                return _section(row), created
            if not rename or (found.label_tr, found.label_en) == (label_tr, label_en):
                return found, False
            await tx.execute(
                "UPDATE sections SET label_tr = ?, label_en = ? WHERE id = ?", (label_tr, label_en, found.id)
            )
            return Section(found.id, found.key, label_tr, label_en), True

    async def get(self, section_id: int) -> Section | None:
        """One section by id."""
        row = await self._db.fetchone("SELECT * FROM sections WHERE id = ?", (section_id,))
        return None if row is None else _section(row)

    async def all(self) -> list[Section]:
        """Every section ever created, General first."""
        return [_section(row) for row in await self._db.fetchall("SELECT * FROM sections ORDER BY id")]

    async def in_use(self) -> list[Section]:
        """The sections that exist for readers: those with a feed or an article, General first."""
        rows = await self._db.fetchall(
            "SELECT * FROM sections s WHERE EXISTS (SELECT 1 FROM feeds f WHERE f.section_id = s.id) "
            "OR EXISTS (SELECT 1 FROM articles a WHERE a.section_id = s.id) ORDER BY s.id"
        )
        return [_section(row) for row in rows]


def _match(sections: list[Section], folded_tr: str, folded_en: str) -> Section | None:
    """Both labels equal wins; else the Turkish label names one; else the English one does."""
    labels = {s.id: (fold_text(s.label_tr), fold_text(s.label_en)) for s in sections}
    for wanted in ((folded_tr, folded_en), (folded_tr,), (folded_en,)):
        for section in sections:
            if (len(wanted) == 2 and labels[section.id] == wanted) or (
                len(wanted) == 1 and wanted[0] in labels[section.id]
            ):
                return section
    return None


def _section(row: Row) -> Section:
    return Section(id=row["id"], key=row["key"], label_tr=row["label_tr"], label_en=row["label_en"])
