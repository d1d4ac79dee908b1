"""Fixtures of the browser suite: one Chromium per session, a fresh tab with a virtual authenticator per test,
the example backend on a local anvil, and a screenshot of every page state, saved for every test under
test-artifacts/browser/<test>/ (git-ignored)."""

from __future__ import annotations

import base64
import json
import pathlib
import re
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from examples.dapp_backend import RunningExample
from tests.browser.cdp import Chromium, Page, find_chromium
from tests.browser.example_client import PageClient

REPO = pathlib.Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
_REPORTS = pytest.StashKey[dict[str, Any]]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # Remember each phase's outcome on the item so fixtures can tell, at teardown, whether the test failed.
    report: pytest.TestReport = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    reports = request.node.stash.get(_REPORTS, {})
    return any(getattr(reports.get(when), "failed", False) for when in ("setup", "call"))


@pytest.fixture(scope="session")
def chromium() -> Iterator[Chromium]:
    executable = find_chromium()
    if executable is None:
        pytest.skip("chromium not installed: apt-get install -y chromium (scripts/bootstrap.sh browser)")
    with Chromium(executable) as browser:
        yield browser


@dataclass
class Tab:
    """A tab of the example page with its virtual authenticator; records a screenshot of every page state."""

    page: Page
    authenticator_id: str
    shots: list[tuple[str, bytes]] = field(default_factory=list)

    def open(self, origin: str) -> None:
        self.page.goto(origin + "/")
        self.wait_state("ready")

    def fill(self, element_id: str, value: str) -> None:
        self.page.evaluate(f"document.getElementById({element_id!r}).value = {value!r}")

    def click(self, button_id: str) -> None:
        self.page.evaluate(f"document.getElementById({button_id!r}).click()")

    def wait_state(self, *states: str, timeout: float = 20.0) -> dict[str, Any]:
        """Wait until the status line shows one of ``states`` (or ``error``); return what the page shows."""
        wanted = [*states, "error"]
        condition = f"{wanted!r}.includes(document.getElementById('status').dataset.state)"
        self.page.wait_for(condition, timeout=timeout)
        shown: dict[str, Any] = self.page.evaluate(
            "({state: document.getElementById('status').dataset.state,"
            " message: document.getElementById('status').textContent,"
            " details: document.getElementById('details').textContent})"
        )
        self.snap(str(shown["state"]))
        return shown

    def run(self, button_id: str, *, timeout: float = 20.0) -> dict[str, Any]:
        """Click a flow's button and wait for it to finish; returns the page's status."""
        self.click(button_id)
        return self.wait_state(f"{button_id}-done", timeout=timeout)

    def api(self, path: str, body: object = None) -> tuple[int, dict[str, Any]]:
        """Call the backend from the page itself (its session cookie, its Origin); returns status and JSON."""
        result: dict[str, Any] = self.page.evaluate(
            f"""(async () => {{
              try {{ return {{status: 200, answer: await api({path!r}, {json.dumps(body)})}}; }}
              catch (e) {{
                const answer = {{error: e.kind || e.name, rule: e.rule, message: e.message}};
                return {{status: e.status || 0, answer}};
              }}
            }})()"""
        )
        return int(result["status"]), result["answer"]

    def last_credential(self) -> dict[str, Any]:
        """The PublicKeyCredential JSON the page last posted (exactly the browser's bytes)."""
        value: dict[str, Any] = self.page.evaluate("window.sso.lastCredential")
        return value

    def snap(self, label: str) -> None:
        data = self.page.send("Page.captureScreenshot", {"format": "png"})["data"]
        self.shots.append((label, base64.b64decode(data)))

    def save_shots(self, directory: pathlib.Path) -> list[pathlib.Path]:
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.glob("*.png"):  # an earlier run's steps
            old.unlink()
        paths = []
        for index, (label, png) in enumerate(self.shots):
            path = directory / f"{index:02d}-{re.sub(r'[^A-Za-z0-9_.-]+', '_', label)}.png"
            path.write_bytes(png)
            paths.append(path)
        return paths


@pytest.fixture
def tab(chromium: Chromium, request: pytest.FixtureRequest) -> Iterator[Tab]:
    page = chromium.new_page()
    # Tall enough that a screenshot shows the whole page, operations list included.
    metrics = {"width": 1000, "height": 1500, "deviceScaleFactor": 1, "mobile": False}
    page.send("Emulation.setDeviceMetricsOverride", metrics)
    current = Tab(page, page.add_virtual_authenticator())
    yield current
    failed = _failed(request)
    try:
        current.snap("at-failure" if failed else "at-end")
    except Exception as exc:  # noqa: BLE001 - a dead tab must not hide the test's own failure
        print(f"no final screenshot: {exc!r}")
    # Every step's screenshot is kept (a reviewer sees what the page showed), a failing test's too.
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.nodeid.split("::", 1)[-1])
    saved = current.save_shots(ARTIFACTS / name)
    if failed:
        print(f"screenshots: {[str(p) for p in saved]}\nconsole: {page.console[-20:]}")
    chromium.connection.send("Target.closeTarget", {"targetId": page.target_id})


@pytest.fixture
def page(example: RunningExample) -> Iterator[PageClient]:
    """A fresh HTTP session (own cookie jar) against the module's ``example``."""
    with PageClient(example) as client:
        yield client
