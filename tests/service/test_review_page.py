"""The review page end to end in headless Chromium (Playwright driving Debian's chromium):
sign in, review with the keyboard, reload, reject with a hostile reason, switch language,
undo; a platform token sees no review controls; a field-checked burned patch shows the
crew's burn severity in both languages; on a home with a real run folder the
raster and zone layer toggles and the before/after chips appear. The screenshot is kept at
``var/test-artifacts/review-page.png`` (git-ignored)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import geopandas as gpd
import pytest
import uvicorn
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.fixtures.run_folder import CRS, HEIGHT, LEFT, RES, TOP, WIDTH, make_run_home
from tests.fixtures.service import BURNED, ServiceHome, fill_with_answers, make_home
from tests.fixtures.uav import write_orthophoto, write_uav_chips
from tiandi._children import free_port
from tiandi.redline.run_layout import RunLayout
from tiandi.service import page as page_module
from tiandi.service.app import create_app
from tiandi.settings import Settings

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
HOSTILE = "<script>alert(1)</script> not a real change"


def _unavailable(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"the review page's browser test cannot run in CI: {reason}")
    pytest.skip(f"review page browser test skipped: {reason}")


@contextmanager
def _serving(settings: Settings) -> Iterator[str]:
    """The real app under uvicorn on a free loopback port; yields its URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            pytest.fail(f"uvicorn did not start on 127.0.0.1:{port}")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _check_browser_assets() -> None:
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (scripts/install-system-deps.sh installs it)")
    if page_module.missing_assets():
        pytest.fail(f"OpenLayers is not installed in {page_module.OL_DIR}: run `make setup`")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ServiceHome]]:
    """The real app under uvicorn on a free loopback port, over a filled store."""
    _check_browser_assets()
    home = make_home(tmp_path_factory.mktemp("page-home"))
    with _serving(home.settings) as url:
        yield url, home


@pytest.fixture(scope="module")
def browser(served: tuple[str, ServiceHome]) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _sign_in(browser: Any, url: str, token: str) -> tuple[Any, list[str]]:
    """A fresh browser context signed in with ``token``, and the page's script errors."""
    context = browser.new_context(viewport={"width": 1400, "height": 850})
    return _sign_in_page(context, url, token)


def _sign_in_page(context: Any, url: str, token: str) -> tuple[Any, list[str]]:
    """A new page of ``context`` signed in with ``token``, and the page's script errors."""
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{url}/review/")
    page.fill("#token", token)
    page.press("#token", "Enter")
    _wait_ready(page)
    return page, errors


def _wait_ready(page: Any) -> None:
    """Wait until the page takes keys: a key pressed while it still loads is dropped (a
    "3" right after sign-in was lost in a fresh-clone CI run)."""
    page.wait_for_selector("body[data-ready]")
    page.wait_for_selector("#list li.selected")


def _row_state(page: Any, uid: str) -> str:
    return str(page.locator(f'#list li[data-uid="{uid}"] .state').inner_text())


def _wait_saved(page: Any) -> None:
    """Wait for the page's answer to a decision: it must be the "saved" toast (an error
    toast fails at once, with its text)."""
    page.wait_for_selector("#toast.ok, #toast.error")
    toast = page.locator("#toast")
    assert toast.get_attribute("class") == "ok", toast.inner_text()
    page.evaluate("document.querySelector('#toast').className = ''")


def _select_next(page: Any) -> str:
    """Press ``j`` and wait until the selection has moved (a key that arrives while the
    page is still busy is dropped: press it once more); the newly selected patch."""
    before = str(page.locator("#list li.selected").get_attribute("data-uid"))
    moved = f"document.querySelector('#list li.selected').dataset.uid !== '{before}'"
    page.keyboard.press("j")
    try:
        page.wait_for_function(moved, timeout=3000)
    except PlaywrightTimeout:
        page.keyboard.press("j")
        page.wait_for_function(moved)
    return str(page.locator("#list li.selected").get_attribute("data-uid"))


def _accept_with_a_class_key(page: Any, home: ServiceHome) -> str:
    first = str(page.locator("#list li.selected").get_attribute("data-uid"))
    version = home.store.version(first)
    page.keyboard.press("3")  # energy (the detected class is mining: a reclassification)
    assert page.locator("#chosen").inner_text() == "能源开发"
    page.keyboard.press("a")
    _wait_saved(page)
    assert page.locator("#list li.selected").get_attribute("data-uid") != first  # moved on
    assert home.store.version(first) == version + 1
    assert home.store.get(first).status.state.value == "reviewed_accepted"
    last = home.store.audit_records(subject=first)[-1]
    assert last.actor == "ecologist holder" and last.payload["hj1156_class"] == "energy"
    return first


def _reject_with_a_hostile_reason(page: Any, home: ServiceHome) -> str:
    alerts: list[str] = []
    page.on("dialog", lambda d: (alerts.append(d.message), d.dismiss()))
    rejected = _select_next(page)  # a key pressed while the page is still busy is dropped
    page.wait_for_selector("#detail-version")  # the moved-to patch's detail is shown
    page.keyboard.press("x")
    try:
        page.wait_for_selector("#reject-dialog[open]", timeout=3000)
    except PlaywrightTimeout:  # the key arrived while the page was still busy: press it again
        page.keyboard.press("x")
        page.wait_for_selector("#reject-dialog[open]")
    page.fill("#reason-text", HOSTILE)
    page.press("#reason-text", "Enter")
    _wait_saved(page)
    assert home.store.history(rejected)[-1].reason == HOSTILE
    page.keyboard.press("k")
    page.wait_for_function("document.querySelector('#history .reason') !== null")
    assert HOSTILE in page.locator("#history").inner_text()
    assert page.locator("#history script").count() == 0 and not alerts
    return rejected


def test_ecologist_reviews_with_the_keyboard_and_decisions_persist(
    served: tuple[str, ServiceHome], browser: Any
) -> None:
    url, home = served
    page, errors = _sign_in(browser, url, home.tokens["ecologist"])
    assert page.locator("#list li").count() == 16
    assert page.locator("#map canvas").count() >= 1  # OpenLayers drew (canvas 2D)
    first = _accept_with_a_class_key(page, home)

    page.reload()
    _wait_ready(page)
    assert _row_state(page, first) == "审核通过"
    rejected = _reject_with_a_hostile_reason(page, home)

    page.click("#lang")
    assert page.locator('[data-i18n="patches"]').inner_text() == "Patches"
    assert _row_state(page, rejected) == "rejected"

    page.keyboard.press("u")  # takes back the rejection
    _wait_saved(page)
    assert home.store.get(rejected).status.state.value == "screened"
    assert home.store.history(rejected)[-1].name == "undo_review"
    assert home.store.audit_records(subject=rejected)[-1].actor == "ecologist holder"
    assert _row_state(page, rejected) == "screened"

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "review-page.png"
    page.screenshot(path=str(shot))
    print(f"screenshot of the review page: {shot}")
    assert shot.stat().st_size > 10_000
    assert not errors, errors
    page.context.close()


def test_platform_token_sees_no_review_controls(
    served: tuple[str, ServiceHome], browser: Any
) -> None:
    url, home = served
    page, errors = _sign_in(browser, url, home.tokens["platform"])
    assert page.locator("#detail-title").count() == 1
    for control in ("#actions", "#class-keys", "#btn-accept", "#btn-undo"):
        assert page.locator(control).count() == 0, control
    head = home.store.audit_head()
    page.keyboard.press("a")
    page.keyboard.press("x")
    assert not page.locator("#reject-dialog").evaluate("d => d.open")
    assert home.store.audit_head() == head
    assert not errors, errors
    page.context.close()


def test_field_token_is_told_it_cannot_read_patches(
    served: tuple[str, ServiceHome], browser: Any
) -> None:
    url, home = served
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.goto(f"{url}/review/")
    page.fill("#token", home.tokens["field"])
    page.press("#token", "Enter")
    page.wait_for_selector("#toast.error")
    assert "field" in page.locator("#toast").inner_text()
    assert page.locator("#list li").count() == 0 and page.locator("#actions").count() == 0
    context.close()


def test_a_stale_decision_shows_the_current_state_and_is_not_retried(
    served: tuple[str, ServiceHome], browser: Any
) -> None:
    url, home = served
    page, errors = _sign_in(browser, url, home.tokens["ecologist"])
    _select_next(page)
    uid = _select_next(page)  # the third patch: the first test left it open
    page.wait_for_function(
        f"document.querySelector('#detail-version').textContent === '{home.store.version(uid)}'"
    )
    home.store.transition(uid, "rejected", actor="colleague", role="ecologist", reason="cloud")
    head = home.store.audit_head()
    page.keyboard.press("a")
    page.wait_for_selector("#toast.error")
    assert "已剔除" in page.locator("#toast").inner_text()  # the state it has now
    assert home.store.audit_head() == head  # nothing written, nothing retried
    assert page.locator("#list li.selected").get_attribute("data-uid") == uid
    assert page.locator("#detail-state").inner_text() == "已剔除（伪变化）"
    assert not errors, errors
    page.context.close()


def test_a_run_folder_gives_raster_and_zone_layers_and_chips(
    browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    home, run_id = make_run_home(tmp_path_factory.mktemp("page-run-home"))
    layout = RunLayout(home.settings.home / "runs" / "run1")
    ortho = write_orthophoto(
        home.settings.home / "ortho.tif", LEFT, TOP, WIDTH * RES, HEIGHT * RES, CRS
    )
    write_uav_chips(home.settings.uav_path, ortho, gpd.read_file(layout.patches, layer="patches"))
    with _serving(home.settings) as url:
        zones_status: list[int] = []
        context = browser.new_context(viewport={"width": 1400, "height": 850})
        context.on(
            "response",
            lambda r: (
                zones_status.append(r.status) if r.url.endswith(f"/runs/{run_id}/zones") else None
            ),
        )
        page, errors = _sign_in_page(context, url, home.tokens["platform"])
        page.wait_for_selector('#layers label[data-layer="zones"]')
        names = page.eval_on_selector_all("#layers label", "ls => ls.map(l => l.dataset.layer)")
        assert names == ["before", "after", "probability", "mask", "zones"]
        assert zones_status == [200]
        checked = page.eval_on_selector_all("#layers input", "bs => bs.map(b => b.checked)")
        assert checked == [True, True, False, False, True]
        page.click('#layers label[data-layer="probability"] input')
        assert page.is_checked('#layers label[data-layer="probability"] input')
        page.click('#layers label[data-layer="zones"] input')
        assert not page.is_checked('#layers label[data-layer="zones"] input')
        page.wait_for_function(
            "(() => { const imgs = [...document.querySelectorAll('#chips figure:not(.uav) img')];"
            " const uav = [...document.querySelectorAll('#chips figure.uav img')];"
            " return imgs.length === 2 && uav.length === 1"
            " && [...imgs, ...uav].every(i => i.complete && i.naturalWidth > 0); })()"
        )
        page.click("#lang")
        assert page.locator('#layers label[data-layer="zones"]').inner_text().strip() == (
            "Zone outlines"
        )
        assert not errors, errors
        context.close()


def test_the_detail_shows_the_answers_on_the_ground_in_both_languages(
    browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    home = make_home(tmp_path_factory.mktemp("page-answers"), fill_with_answers)
    burned = home.store.get(BURNED).patch_uid
    with _serving(home.settings) as url:
        page, errors = _sign_in(browser, url, home.tokens["platform"])
        page.click(f'#list li[data-uid="{burned}"]')
        page.wait_for_selector("#ground-answers:not([hidden]) dd")
        assert page.locator("#ground-answers dt").inner_text() == "火烧程度"
        assert page.locator("#ground-answers dd").inner_text() == "重度（high）"
        assert page.locator("#ground-answers dd").get_attribute("data-value") == "high"
        page.click("#lang")
        page.wait_for_function(
            "document.querySelector('#ground-answers dt')?.textContent === 'burn severity (CBI)'"
        )
        assert page.locator("#ground-answers dd").inner_text() == "high"
        page.keyboard.press("j")  # the next patch was not checked in the field
        page.wait_for_selector("#history li")  # its patch is loaded (answers rendered then)
        assert page.locator("#ground-answers").get_attribute("hidden") is not None
        assert page.locator("#ground-answers dd").count() == 0
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.keyboard.press("k")
        page.wait_for_selector("#ground-answers:not([hidden]) dd")
        page.screenshot(path=str(ARTIFACTS / "review-page-answers.png"))
        assert not errors, errors
        page.context.close()


def _graded_store(store: Any) -> None:
    """Five patches with confidence levels (one without: another detector's)."""
    from tests.fixtures.store import detections, run_info, square
    from tiandi.redline.store.recording import record_detections

    graded = detections([(f"TB-L{i}", square(i)) for i in range(5)])
    graded["confidence_level"] = ["nominal", None, "highest", "high", "nominal"]
    graded["evidence"] = ["bare_soil", None, "network,vegetation_loss", "network", "water_gain"]
    graded["area_m2"] = [5e4, 4e4, 1e4, 3e4, 2e4]  # area order differs from level order
    graded["area_ha"] = graded["area_m2"] / 1e4
    record_detections(store, graded, None, run_info(1))


def test_the_confidence_level_is_a_column_and_a_sort(
    browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    home = make_home(tmp_path_factory.mktemp("page-levels"), _graded_store)
    with _serving(home.settings) as url:
        page, errors = _sign_in(browser, url, home.tokens["ecologist"])
        ids = "ls => ls.map(l => l.querySelector('.pid').textContent)"
        assert page.eval_on_selector_all("#list li", ids)[:2] == ["TB-L0", "TB-L1"]  # by area
        page.select_option("#sort", "level")
        assert page.eval_on_selector_all("#list li", ids) == [
            "TB-L2",
            "TB-L3",
            "TB-L0",
            "TB-L4",
            "TB-L1",
        ]  # highest, high, nominal (by id), then the patch without a level
        levels = page.eval_on_selector_all("#list li .lvl", "ls => ls.map(l => l.textContent)")
        assert levels == ["最高", "高", "一般", "一般", "—"]
        page.click('#list li[data-uid] >> text="TB-L2"')
        page.wait_for_selector("#detail-evidence")
        assert page.locator("#detail-level").inner_text() == "最高"
        assert page.locator("#detail-evidence").inner_text() == "网络模型 + 植被减少"
        page.click("#lang")
        assert page.locator("#detail-evidence").inner_text() == "network + vegetation loss"
        assert page.locator("#sort option[value=level]").inner_text() == (
            "Confidence level (highest first)"
        )
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "review-page-levels.png"))
        assert not errors, errors
        page.context.close()
