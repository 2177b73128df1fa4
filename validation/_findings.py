"""What every check returns: the findings it made and how many checks it ran."""

from __future__ import annotations

from dataclasses import dataclass, field

REPOSITORY = "repo"


@dataclass(frozen=True)
class Finding:
    """One problem, located precisely enough to fix it without re-running anything."""

    check: str
    stack: str
    subject: str
    message: str

    def render(self) -> str:
        return f"[{self.stack}] {self.check}: {self.subject}: {self.message}"


@dataclass
class CheckResult:
    """The outcome of one check on one stack (or on the repository, for the stackless checks)."""

    check: str
    stack: str
    runs: int = 0
    findings: list[Finding] = field(default_factory=list)

    def fail(self, subject: str, message: str) -> None:
        self.findings.append(Finding(self.check, self.stack, subject, message))

    @property
    def passed(self) -> bool:
        return not self.findings
