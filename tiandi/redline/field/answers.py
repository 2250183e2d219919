"""The crew's answers on the ground, labelled for people: question and value in Chinese
and English, as the field form shows them.

A patch keeps its answers in the columns of
:data:`~tiandi.redline.store.records.GROUND_ANSWER_NAMES` (``field_severity``,
``field_bloom_observed``, ``field_dieback_cause``); the value lists and their labels are
those of the form (:data:`~tiandi.redline.field.schema.GROUND_QUESTIONS`). The API, the
review page, ``tiandi patches show``, the ledger and the run report all label them here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from tiandi.redline.field.schema import ALIASES, GROUND_QUESTIONS, GroundQuestion


@dataclass(frozen=True)
class LabelledAnswer:
    """One answer of a patch: the question's column and its change type, the value, and
    Chinese and English labels of both (a value outside the list is its own label)."""

    column: str
    change_type: str
    value: str
    question_zh: str
    question_en: str
    value_zh: str
    value_en: str

    def as_dict(self) -> dict[str, str]:
        """Plain fields for JSON."""
        return asdict(self)

    @property
    def text(self) -> str:
        """``火烧程度 burn severity (CBI): 重度 high`` (one line)."""
        return f"{self.question_zh} {self.question_en}: {value_label(self.column, self.value)}"


def _split(label: str) -> tuple[str, str]:
    """``"重度 high"`` → (``"重度"``, ``"high"``)."""
    zh, _, en = label.partition(" ")
    return zh, en or zh


def question_labels(q: GroundQuestion) -> tuple[str, str]:
    """The Chinese and English label of a question (the form's alias)."""
    return _split(ALIASES.get(q.column, q.what))


def value_label(column: str, value: str) -> str:
    """``中文 English`` of an answer (``"重度 high"``), the value itself when unknown."""
    for q in GROUND_QUESTIONS:
        if q.column == column:
            return q.labels.get(value, value)
    return value


def labelled_answers(attributes: Mapping[str, Any]) -> list[LabelledAnswer]:
    """The answers a patch's ``attributes`` hold (empty columns left out), in the order
    of the questions."""
    out = []
    for q in GROUND_QUESTIONS:
        value = attributes.get(q.column)
        if value is None or not isinstance(value, str) or not value:
            continue
        question_zh, question_en = question_labels(q)
        value_zh, value_en = _split(q.labels.get(value, value))
        out.append(
            LabelledAnswer(
                q.column, q.change_type, value, question_zh, question_en, value_zh, value_en
            )
        )
    return out
