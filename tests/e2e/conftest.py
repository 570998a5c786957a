"""Browser tests: Debian's Chromium through Playwright (`playwright install` cannot work here)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import chromium_path


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    path = chromium_path()
    if not path.exists():
        # Never a skip: a missing browser means the browser tests did not run, which is a failure.
        pytest.fail(
            f"Chromium not found at {path}: run `make browser` (installs Debian's chromium) "
            "or set BLOG_CHROMIUM"
        )
    return {
        **browser_type_launch_args,
        "executable_path": str(path),
        "args": [
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
        ],
    }


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say plainly in the run's output (and so in CI's log) that the browser tests ran."""
    outcomes: dict[str, int] = {}
    for outcome in ("passed", "failed", "error", "skipped"):
        for report in terminalreporter.stats.get(outcome, []):
            if "/e2e/" in str(getattr(report, "nodeid", "")) and report.when in ("call", "setup"):
                if outcome == "passed" and report.when != "call":
                    continue
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
    if outcomes:
        detail = ", ".join(f"{outcome} {count}" for outcome, count in sorted(outcomes.items()))
        terminalreporter.write_line(f"Browser tests run in Chromium ({chromium_path()}): {detail}")
