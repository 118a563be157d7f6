"""The card lifecycle of issue 15's "Show" list, driven through the page in a
real browser, against any mount: the console or a framework app.

A Target says where the page is, how a browser logs in, which route the
tokens guard, and whose keys must (owner mode) or may (operator mode) be
seen. Every step saves a screenshot under the run's folder."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect

from conftest import wait_until

XSS_NAME = "<img src=x onerror=alert(1)>"
ALL_ACTIONS = ["Copy", "Regenerate", "Activate", "Deactivate", "Revoke"]


@dataclass
class Target:
    name: str
    page_url: str
    protected_url: str
    operator: bool
    login: Callable[[BrowserContext], None]
    # A key of another owner, issued before the page is opened. Owner mode:
    # it must never appear. Operator mode: it appears, with its owner.
    other_owner_key: Tuple[str, str]  # (key name, owner)


def call(url: str, token: Optional[str]) -> Tuple[int, dict]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            return e.code, json.loads(body or b"{}")
        except ValueError:
            return e.code, {"raw": body.decode(errors="replace")}


@dataclass
class Watch:
    """What the page did that it must not: console errors (CSP violations
    are reported there), uncaught exceptions, alert/confirm dialogs."""

    errors: List[str] = field(default_factory=list)
    dialogs: List[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("console", lambda m: self.errors.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(f"pageerror: {e}"))

        def on_dialog(d):
            self.dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", on_dialog)


class Shots:
    def __init__(self, folder: Path):
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.n = 0

    def take(self, page: Page, state: str) -> Path:
        self.n += 1
        path = self.folder / f"{self.n:02d}-{state}.png"
        page.screenshot(path=str(path), full_page=True)
        return path


def card(page: Page, name: str) -> Locator:
    return page.locator(".card").filter(has=page.get_by_role("heading", name=name, exact=True))


def ready(page: Page) -> None:
    expect(page.locator("main")).to_have_attribute("data-state", "ready")


def refresh(page: Page) -> None:
    page.get_by_role("button", name="Refresh", exact=True).click()
    ready(page)


def buttons(locator: Locator) -> List[str]:
    return [b.inner_text().strip() for b in locator.locator(".card-actions button").all()]


def wait_for_usage(page: Page, name: str, count: int) -> None:
    def seen() -> bool:
        refresh(page)
        return card(page, name).locator(".usage").inner_text().startswith(f"{count} request")

    wait_until(seen, f"the card of {name!r} to show {count} requests")


def wait_for_answer(url: str, token: str, status: int) -> dict:
    # Another process serves the route: its cache of the key catches up
    # with the store on its own schedule.
    return wait_until(lambda: (lambda s, b: b if s == status else None)(*call(url, token)), f"HTTP {status}")


def create_with_keyboard(page: Page, name: str) -> str:
    """Tab to Create Token, Enter, type the name, Enter: keyboard only."""
    page.locator("body").focus()
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.textContent") == "Create Token":
            break
    else:
        raise AssertionError("Create Token is not reachable with Tab")
    page.keyboard.press("Enter")
    expect(page.locator("#create-dialog")).to_be_visible()
    expect(page.get_by_label("Name")).to_be_focused()
    page.keyboard.type(name)
    page.keyboard.press("Enter")
    token_dialog = page.locator("#token-dialog")
    expect(token_dialog).to_be_visible()
    expect(token_dialog).to_contain_text("will not be shown again")
    token = page.locator("#token-value").input_value()
    assert token, "no token shown"
    return token


def close_token(page: Page, token: str) -> None:
    page.locator("#token-dialog").get_by_role("button", name="Done").click()
    expect(page.locator("#token-dialog")).to_be_hidden()
    # Shown once: gone from the page once the dialog is closed (the page
    # empties it on the dialog's close event: wait for it, don't race it).
    expect(page.locator("#token-value")).to_have_value("")
    assert token not in page.content()


def run_lifecycle(target: Target, browser: Browser, shots_root: Path) -> None:
    shots = Shots(shots_root / target.name)
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    context.grant_permissions(["clipboard-read", "clipboard-write"])
    target.login(context)
    page = context.new_page()
    watch = Watch()
    watch.attach(page)
    page.goto(target.page_url)
    ready(page)
    other_name, other_owner = target.other_owner_key
    if target.operator:
        other = card(page, other_name)
        expect(other).to_have_count(1)
        expect(other.locator(".owner")).to_have_text(other_owner)
        expect(page.locator("#mode")).to_contain_text("Operator")
    else:
        expect(page.locator(".card")).to_have_count(0)
        expect(page.locator("#empty")).to_be_visible()
        expect(page.locator("#empty")).to_contain_text("No tokens yet")
        shots.take(page, "empty")
        assert other_name not in page.content()

    # Create with the keyboard; the token is shown once.
    name = f"{target.name} bot"
    token = create_with_keyboard(page, name)
    shots.take(page, "token-shown-once")
    page.locator("#token-dialog").get_by_role("button", name="Copy", exact=True).click()
    expect(page.locator("#token-copied")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == token
    close_token(page, token)
    mine = card(page, name)
    expect(mine).to_have_count(1)
    # Keyboard users land on the new card once the token dialog closes.
    expect(mine.locator(".card-name")).to_be_focused()
    expect(mine.locator(".badge")).to_have_text("Active")
    expect(mine.locator(".expires")).to_have_text("Never")
    assert buttons(mine) == ["Copy", "Regenerate", "Deactivate", "Revoke"]
    prefix = mine.locator(".prefix").inner_text()
    assert prefix.endswith("…") and token.startswith(prefix[:-1]) and len(prefix) >= 8, (prefix, token[:4])

    # Copy copies the prefix, never the token.
    mine.get_by_role("button", name="Copy", exact=True).click()
    expect(mine.locator(".card-note")).to_have_text("Prefix copied.")
    assert page.evaluate("navigator.clipboard.readText()") == prefix[:-1]

    # Use it over HTTP; the card's usage rises.
    for _ in range(3):
        status, body = call(target.protected_url, token)
        assert status == 200, body
    wait_for_usage(page, name, 3)
    shots.take(page, "used-3-times")

    # Deactivate: the route answers 401 inactive.
    mine.get_by_role("button", name="Deactivate", exact=True).click()
    expect(mine.locator(".badge")).to_have_text("Inactive")
    expect(mine.get_by_role("button", name="Activate", exact=True)).to_be_focused()
    assert buttons(mine) == ["Copy", "Regenerate", "Activate", "Revoke"]
    problem = wait_for_answer(target.protected_url, token, 401)
    assert problem["code"] == "inactive", problem
    shots.take(page, "inactive")

    # Activate: the route answers again.
    mine.get_by_role("button", name="Activate", exact=True).click()
    expect(mine.locator(".badge")).to_have_text("Active")
    wait_for_answer(target.protected_url, token, 200)

    # Regenerate (confirmed): the old token fails, the new one works.
    mine.get_by_role("button", name="Regenerate", exact=True).click()
    confirm = page.locator("#confirm-dialog")
    expect(confirm).to_be_visible()
    expect(confirm.get_by_role("heading")).to_have_text(f"Regenerate {name}?")
    shots.take(page, "regenerate-confirm")
    confirm.get_by_role("button", name="Regenerate", exact=True).click()
    expect(page.locator("#token-dialog")).to_be_visible()
    new_token = page.locator("#token-value").input_value()
    assert new_token and new_token != token
    shots.take(page, "regenerated-token-shown-once")
    close_token(page, new_token)
    problem = wait_for_answer(target.protected_url, token, 401)
    assert problem["code"] == "revoked" and "rotation" in problem["detail"], problem
    status, body = call(target.protected_url, new_token)
    assert status == 200, body
    mine = card(page, name)
    expect(mine).to_have_count(1)

    # Revoke (confirmed): permanent, no actions left; the route refuses it.
    mine.get_by_role("button", name="Revoke", exact=True).click()
    expect(confirm).to_be_visible()
    expect(confirm).to_contain_text("permanent")
    shots.take(page, "revoke-confirm")
    confirm.get_by_role("button", name="Revoke", exact=True).click()
    expect(confirm).to_be_hidden()
    expect(mine.locator(".badge")).to_have_text("Revoked")
    assert buttons(mine) == []
    for action in ALL_ACTIONS:
        expect(mine.get_by_role("button", name=action, exact=True)).to_have_count(0)
    problem = wait_for_answer(target.protected_url, new_token, 401)
    assert problem["code"] == "revoked", problem

    # Still being tried after revocation: flagged on its card.
    for _ in range(2):
        call(target.protected_url, new_token)

    def flagged() -> bool:
        refresh(page)
        return card(page, name).locator(".flag").is_visible()

    wait_until(flagged, "the revoked card to be flagged")
    mine = card(page, name)
    expect(mine.locator(".flag")).to_contain_text("Still being tried")
    shots.take(page, "revoked-still-tried")

    # Its usage chart and event history.
    mine.get_by_text("Usage and history").click()
    chart = mine.locator(".chart svg")
    expect(chart).to_have_count(1)
    label = chart.get_attribute("aria-label") or ""
    assert "valid request" in label and "refused request" in label, label
    assert mine.locator(".chart rect.bar-refused").count() >= 1
    events = mine.locator(".events")
    for word in ["Regenerated", "Revoked"]:
        expect(events).to_contain_text(word)
    mine.scroll_into_view_if_needed()
    shots.take(page, "usage-and-history")

    # The status filter.
    page.get_by_label("Status").select_option("revoked")
    ready(page)
    statuses = [c.get_attribute("data-status") for c in page.locator(".card").all()]
    assert statuses and set(statuses) == {"revoked"}, statuses
    shots.take(page, "filter-revoked")
    page.get_by_label("Status").select_option("inactive")
    ready(page)
    if page.locator(".card").count() == 0:
        expect(page.locator("#empty")).to_have_text("No inactive tokens.")
    page.get_by_label("Status").select_option("")
    ready(page)

    # A name made of markup is shown as text and runs nothing.
    page.get_by_role("button", name="Create Token", exact=True).click()
    page.get_by_label("Name").fill(XSS_NAME)
    page.locator("#create-dialog").get_by_role("button", name="Create Token").click()
    expect(page.locator("#token-dialog")).to_be_visible()
    xss_token = page.locator("#token-value").input_value()
    assert xss_token
    close_token(page, xss_token)
    page.reload()
    ready(page)
    xss = card(page, XSS_NAME)
    expect(xss).to_have_count(1)
    expect(xss.locator(".card-name")).to_have_text(XSS_NAME)
    assert page.locator(".cards img").count() == 0
    shots.take(page, "markup-name-as-text")

    # Nothing so far broke the CSP or threw.
    assert watch.errors == [], watch.errors

    # An error is shown where it happens: a name over the limit.
    page.get_by_role("button", name="Create Token", exact=True).click()
    page.get_by_label("Name").evaluate("el => el.removeAttribute('maxlength')")
    page.get_by_label("Name").fill("x" * 5000)
    page.locator("#create-dialog").get_by_role("button", name="Create Token").click()
    error = page.locator("#create-error")
    expect(error).to_be_visible()
    shots.take(page, "error-in-dialog")
    # Chromium logs the refused request itself: that one is expected.
    refused = [e for e in watch.errors if "status of 400" in e]
    assert len(refused) == 1, watch.errors
    watch.errors.remove(refused[0])
    page.locator("#create-dialog").get_by_role("button", name="Cancel").click()

    if not target.operator:
        assert other_name not in page.content()

    # Phone width, dark scheme.
    phone = context.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.emulate_media(color_scheme="dark")
    watch.attach(phone)
    phone.goto(target.page_url)
    ready(phone)
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"horizontal scroll on a phone: {width}px"
    shots.take(phone, "phone-dark")

    assert watch.dialogs == [], watch.dialogs
    assert watch.errors == [], watch.errors
    context.close()
