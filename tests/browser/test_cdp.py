"""The CDP driver itself: evaluation errors surface as exceptions, screenshots are real PNGs."""

from __future__ import annotations

import pathlib

import pytest

from tests.browser.cdp import BrowserError, JavaScriptError
from tests.browser.conftest import Tab

pytestmark = pytest.mark.browser

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_page_errors_are_raised_not_swallowed(tab: Tab) -> None:
    tab.page.goto("about:blank")
    assert tab.page.evaluate("(async () => 6 * 7)()") == 42
    with pytest.raises(JavaScriptError, match="boom"):
        tab.page.evaluate("(async () => { throw new Error('boom') })()")
    with pytest.raises(BrowserError, match="timed out"):
        tab.page.wait_for("false", timeout=0.3)


def test_screenshots_of_each_state_are_written_as_png(tab: Tab, tmp_path: pathlib.Path) -> None:
    tab.page.goto("data:text/html,<h1 id=x>one</h1>")
    tab.snap("one")
    tab.page.evaluate("document.getElementById('x').textContent = 'two'")
    tab.snap("two")
    saved = tab.save_shots(tmp_path)
    assert [p.name for p in saved] == ["00-one.png", "01-two.png"]
    contents = [p.read_bytes() for p in saved]
    assert all(c.startswith(PNG_MAGIC) for c in contents)
    assert contents[0] != contents[1]  # the page changed between the two states
