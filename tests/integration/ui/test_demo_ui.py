"""`ledgerbridge demo` as a new user runs it: the sign-in link it prints opens the UI in a
browser, with the demo's connection and the records it synced."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.ui.conftest import assert_accessible

LEDGERBRIDGE = str(Path(sys.executable).parent / "ledgerbridge")


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[dict[str, str]]:
    """The demo serving after its flow; what it printed, by label."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LEDGERBRIDGE_")}
    process = subprocess.Popen(
        [LEDGERBRIDGE, "demo", "--port", "0", "--debtors", "30", "--data-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
    )  # fmt: skip
    printed: dict[str, str] = {}
    assert process.stdout is not None
    try:
        for line in process.stdout:
            found = re.match(r"(Web UI|API key): +(\S+)", line)
            if found:
                printed[found[1]] = found[2]
            if line.startswith("Serving"):
                break
        assert {"Web UI", "API key"} <= set(printed), printed
        yield printed
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_the_demo_link_opens_its_records_in_the_browser(page: Any, demo: dict[str, str]) -> None:
    origin = demo["Web UI"].split("/ui/")[0]
    party = httpx.get(
        f"{origin}/api/v1/parties",
        params={"limit": 1},
        headers={"Authorization": f"Bearer {demo['API key']}"},
    ).json()["items"][0]["data"]
    page.goto(demo["Web UI"])
    page.get_by_role("heading", name="Connections").wait_for()
    page.get_by_role("link", name=re.compile("Uniconta")).first.wait_for()
    page.get_by_role("link", name="Records").click()
    search = page.get_by_role("searchbox", name="Search parties")
    search.fill(party["name"])
    search.press("Enter")
    page.get_by_role("link", name=party["name"]).first.wait_for()
    assert_accessible(page)
