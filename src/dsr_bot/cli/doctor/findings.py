"""What one doctor check says: ✓, ✗ with the fix in the operator's terms, or – (skipped)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# Remote checks give a server this long to answer before they say it does not.
TIMEOUT = 10.0

Status = Literal["ok", "fail", "skip"]
MARKS: dict[Status, str] = {"ok": "✓", "fail": "✗", "skip": "–"}


@dataclass(frozen=True)
class Finding:
    name: str
    status: Status
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{MARKS[self.status]} {self.name}: {self.detail}"
        return f"{text} → fix: {self.fix}" if self.fix and self.status == "fail" else text


def ok(name: str, detail: str) -> Finding:
    return Finding(name, "ok", detail)


def fail(name: str, detail: str, fix: str) -> Finding:
    return Finding(name, "fail", detail, fix)


def skip(name: str, detail: str) -> Finding:
    return Finding(name, "skip", detail)
