"""The crew's answers on the ground as columns of ``patches`` (schema version 3).

A field check of a disturbance patch answers the question of its type (burn severity,
bloom observed, dieback cause: :data:`tiandi.redline.field.schema.GROUND_QUESTIONS`,
checked against their value lists by the field import). The ``field_checked`` transition
that records the check writes the answers into the patch's columns
:data:`~tiandi.redline.store.records.GROUND_ANSWER_NAMES`, in the same transaction as the
state, the history row and the audit record; a transition that clears ``field_outcome``
(dispatch again, recall, reopen, review) clears them too, so the columns always say what
the check behind ``field_outcome`` found. The answers stay in the history as well (the
transition's reason, ``…; on the ground: field_severity=high)``, read by
:func:`answers_in_reason`); upgrading an older store copies them from there into the new
columns (:func:`answers_to_backfill`), so patches checked before the upgrade keep theirs.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from tiandi.errors import InputError
from tiandi.redline.store.lifecycle import PatchState, TransitionRecord
from tiandi.redline.store.records import GROUND_ANSWER_NAMES
from tiandi.redline.vocabulary import GROUND_ANSWER_VALUES


def check_ground_answers(
    patch_id: str, target: PatchState, answers: Mapping[str, Any] | None
) -> dict[str, str]:
    """``answers`` as the store keeps them (column → one of its values), or ``InputError``
    naming the patch and what is wrong: an unknown column, an empty, non-text or unlisted
    value (:data:`~tiandi.redline.vocabulary.GROUND_ANSWER_VALUES`), or answers given to a
    transition other than a field check."""
    if not answers:
        return {}
    if target is not PatchState.FIELD_CHECKED:
        raise InputError(
            f"patch {patch_id}: ground answers {sorted(answers)} were given to a transition to "
            f"{target.value!r}; they are recorded by a field check (to 'field_checked') only"
        )
    unknown = sorted(str(k) for k in answers if k not in GROUND_ANSWER_NAMES)
    if unknown:
        raise InputError(
            f"patch {patch_id}: ground answer column(s) {unknown} are unknown; the patch store "
            f"keeps {', '.join(GROUND_ANSWER_NAMES)}"
        )
    kept: dict[str, str] = {}
    for column, value in answers.items():
        if not isinstance(value, str) or not value.strip():
            raise InputError(
                f"patch {patch_id}: ground answer {column} is {value!r}; give the value the "
                "crew chose (text), or leave the question out"
            )
        allowed = GROUND_ANSWER_VALUES[column]
        if value.strip() not in allowed:
            raise InputError(
                f"patch {patch_id}: ground answer {column}={value!r} is not one of "
                f"{', '.join(allowed)}; record the value the crew chose from the form's list"
            )
        kept[column] = value.strip()
    return kept


def ground_answer_set(record: TransitionRecord) -> tuple[str, tuple[None, ...]]:
    """The SQL ``SET`` fragment (``, col = ?`` for each answer column, or empty) and its
    values for the ``patches`` row after ``record``: emptied by a field check (its own
    answers follow, :func:`ground_answers_update`) and when the field outcome is cleared,
    unchanged otherwise."""
    if record.target is not PatchState.FIELD_CHECKED and record.outcome is not None:
        return "", ()
    values = (None,) * len(GROUND_ANSWER_NAMES)
    return "".join(f", {c} = ?" for c in GROUND_ANSWER_NAMES), values


def ground_answers_update(
    patch_uid: str, answers: Mapping[str, str]
) -> tuple[str, tuple[str, ...]]:
    """The SQL (``?`` placeholders) and parameters that write a field check's checked
    ``answers`` (columns of :data:`GROUND_ANSWER_NAMES` only) into the patch's row, run in
    the transaction of its transition."""
    sets = ", ".join(f"{c} = ?" for c in answers)
    return f"UPDATE patches SET {sets} WHERE patch_uid = ?", (*answers.values(), patch_uid)


_IN_REASON = re.compile(r"; on the ground: (?P<answers>[a-z_]+=[a-z_]+(?:, [a-z_]+=[a-z_]+)*)\)")


def reason_of_answers(answers: Mapping[str, str]) -> str:
    """The part of a ``field_checked`` reason that records ``answers``
    (``"; on the ground: field_severity=high"``, sorted; empty without answers): the
    format :func:`answers_in_reason` reads back."""
    pairs = ", ".join(f"{k}={v}" for k, v in sorted(answers.items()))
    return f"; on the ground: {pairs}" if pairs else ""


def answers_in_reason(reason: str | None) -> dict[str, str]:
    """The crew's answers that a ``field_checked`` transition's ``reason`` records (the
    field import writes ``…; on the ground: field_severity=high)``); empty when none."""
    found = _IN_REASON.search(reason or "")
    if found is None:
        return {}
    return dict(pair.split("=", 1) for pair in found["answers"].split(", "))


def answers_to_backfill(
    checks: Iterable[tuple[str, str | None]], columns: Iterable[str]
) -> list[tuple[str, dict[str, str]]]:
    """For a schema upgrade that adds the answer ``columns``: (patch_uid, answers) to write,
    from ``checks`` — the (patch_uid, reason) of the ``field_checked`` transitions of
    patches that still hold a field outcome, oldest first (the latest check of a patch is
    the one behind its outcome)."""
    wanted = [c for c in GROUND_ANSWER_NAMES if c in set(columns)]
    latest = dict(checks)
    out = []
    for uid, reason in sorted(latest.items()):
        answers = {k: v for k, v in answers_in_reason(reason).items() if k in wanted}
        if answers:
            out.append((uid, answers))
    return out


#: The ``field_checked`` transitions of patches holding a field outcome, oldest first.
FIELD_CHECKS_SQL = (
    "SELECT t.patch_uid, t.reason FROM patch_transitions t JOIN patches p ON "
    "p.patch_uid = t.patch_uid WHERE t.target = 'field_checked' AND p.field_outcome IS NOT "
    "NULL ORDER BY t.seq"
)
