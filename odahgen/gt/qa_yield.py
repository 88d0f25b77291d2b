"""The yield of a dataset: how many trials pass QA, why the others fail, and where the
pipeline stopped for the rest. ``odahgen status`` fills it from the ``qa.json`` and
``failure.json`` files, ``odahgen report`` from each ``trial.h5``'s ``/qa`` group.

A QA reason is free text with numbers (``"IK marker RMS 2.81 cm > 2.00 cm"``); it counts
under its gate (:data:`odahgen.gt.qa.GATES`, e.g. ``ik_rms``), or, for a line no gate of
this version wrote, under its text before the first colon with the numbers taken out. A
pipeline failure counts under its stage and under its error message with paths, the trial
id, hashes and numbers taken out, so the same failure of many trials is one line.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import ClassVar

from odahgen.gt.qa import GATES, reason_gate

MAX_LABEL = 100  # characters of a normalised reason or error

_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?(?!\w)")  # not in words
_HEX = re.compile(r"\b[0-9a-fA-F]{8,}\b")
_PATH = re.compile(r"""(?:[^\s'"`()\[\]{},;:=]*/)+[^\s'"`()\[\]{},;:=]*""")


def _squeeze(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_LABEL else text[: MAX_LABEL - 3].rstrip() + "..."


def reason_category(reason: str, gate: str | None = None) -> str:
    """The category a QA reason counts under: its gate key (``gate`` when the record stored
    one), else its text before the first colon with numbers as ``N``."""
    gate = gate or reason_gate(reason)
    if gate:
        return gate
    head = reason.split(":", 1)[0]
    return _squeeze(_NUMBER.sub("N", head)) or "(empty reason)"


def category_label(category: str) -> str:
    """Readable label of a category (a gate's label, or the normalised text itself)."""
    return GATES.get(category, category)


def error_category(error: str, trial: str | None = None) -> str:
    """A pipeline error message without what varies between trials: the trial id, paths,
    hashes and numbers (``"<trial>"``, ``"<path>"``, ``"<hash>"``, ``N``)."""
    text = str(error)
    if trial:
        text = text.replace(trial, "<trial>")
    text = _PATH.sub("<path>", text)
    text = _HEX.sub("<hash>", text)
    text = _NUMBER.sub("N", text)
    return _squeeze(text) or "(no message)"


@dataclass
class QAYield:
    """Counts of a dataset's outcome.

    ``planned``: trials in the plan (0 = unknown). ``finished``: trials that reached a QA
    verdict or should have (their last stage is done); of those ``passed``, ``failed`` (QA)
    and ``no_verdict`` (no readable QA record). ``reasons``: category -> trials failing it (a
    trial can fail several gates). ``stage_failures``: stage -> trials the pipeline stopped
    at; ``errors``: (stage, normalised error) -> trials. ``groups``: name (e.g. a motion) ->
    [finished, passed].
    """

    # changes when the categories a reason falls into may change (for caches of them)
    categories_version: ClassVar[str] = "1:" + ",".join(GATES)

    planned: int = 0
    finished: int = 0
    passed: int = 0
    failed: int = 0
    no_verdict: int = 0
    reasons: Counter = field(default_factory=Counter)
    stage_failures: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)

    def add_verdict(self, passed: bool, categories=()) -> None:
        """One finished trial; ``categories`` from :func:`reason_category` (each counted once)."""
        self.finished += 1
        if passed:
            self.passed += 1
        else:
            self.failed += 1
            self.reasons.update(set(categories) or {"(no reason given)"})

    def add_no_verdict(self) -> None:
        """One finished trial without a readable QA verdict."""
        self.finished += 1
        self.no_verdict += 1

    def add_failure(self, stage: str, error_key: str) -> None:
        """One trial the pipeline stopped at ``stage``; ``error_key`` from :func:`error_category`."""
        self.stage_failures[stage] += 1
        self.errors[(stage, error_key)] += 1

    @property
    def pipeline_failed(self) -> int:
        return sum(self.stage_failures.values())

    def percent(self, n: int, of: int | None = None) -> float:
        """``n`` as a percentage of ``of`` (default: finished trials); 0 when that is 0."""
        of = self.finished if of is None else of
        return 100.0 * n / of if of else 0.0

    def top_reasons(self, n: int | None = None) -> list[tuple[str, str, int]]:
        """(category, label, trials), most frequent first (ties by name)."""
        items = sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0]))
        return [(k, category_label(k), c) for k, c in items[:n]]

    def top_errors(self, n: int | None = None) -> list[tuple[str, str, int]]:
        """(stage, normalised error, trials), most frequent first."""
        items = sorted(self.errors.items(), key=lambda kv: (-kv[1], kv[0]))
        return [(s, e, c) for (s, e), c in items[:n]]

    def to_dict(self, top: int | None = None) -> dict:
        """A JSON-ready form (percentages rounded to 0.1)."""
        r1 = lambda x: round(x, 1)  # noqa: E731
        return {
            "planned": self.planned, "finished": self.finished, "passed": self.passed,
            "failed_qa": self.failed, "no_verdict": self.no_verdict,
            "passed_percent": r1(self.percent(self.passed)),
            "failed_qa_percent": r1(self.percent(self.failed)),
            "pipeline_failed": self.pipeline_failed,
            "reasons": [{"gate": k if k in GATES else "", "label": label, "trials": c,
                         "percent_of_finished": r1(self.percent(c)),
                         "percent_of_failed_qa": r1(self.percent(c, self.failed))}
                        for k, label, c in self.top_reasons(top)],
            "failures_by_stage": dict(sorted(self.stage_failures.items(), key=lambda kv: (-kv[1], kv[0]))),
            "failures_by_error": [{"stage": s, "error": e, "trials": c} for s, e, c in self.top_errors(top)],
        }
