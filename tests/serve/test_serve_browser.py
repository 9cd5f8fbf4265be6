"""End to end in headless Chromium (Debian's /usr/bin/chromium via Playwright): upload a
simulated study, follow its analysis, scroll the viewer, toggle overlays, compare the numbers
shown with the analysis file, and save a screenshot that must not be blank.

Run with ``pytest -m browser``; set ``COVIDCT_SCREENSHOT_DIR`` to keep the screenshots.
"""

from __future__ import annotations

import io
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from covidct.io import read_ct, read_mask, write_image
from covidct.phantom import simulate_case

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ANALYSIS_TIMEOUT_MS = 400_000


@pytest.fixture(scope="module")
def small_ct(tmp_path_factory) -> Path:
    case = simulate_case(11, diagnosis="covid", size="small")
    return write_image(case.volume.array, case.volume,
                       tmp_path_factory.mktemp("ct") / "small_covid.nii.gz")


@pytest.fixture
def page():
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium (see .ci/run)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 860})
        yield context.new_page()
        browser.close()


def _fmt(value, unit: str) -> str:
    if unit == "fraction":
        return f"{100 * value:.1f} %"
    if unit == "ml":
        return f"{value:.0f} ml"
    return str(value)


def _label(page) -> str:
    return page.inner_text("#slice-label")


def _keep(path: Path) -> None:
    target = os.environ.get("COVIDCT_SCREENSHOT_DIR")
    if target:
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


def _not_blank(png: bytes, min_colours: int) -> np.ndarray:
    pixels = np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))
    assert pixels.std() > 10, "the screenshot is (nearly) one colour"
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) >= min_colours
    return pixels


def test_upload_follow_view_and_numbers(live_server, small_ct, page, tmp_path):
    base, data = live_server
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{base}/upload")
    page.set_input_files("#file", str(small_ct))
    page.click("#send")
    page.wait_for_selector("#upload-percent:text('100 %')", timeout=60_000)
    page.wait_for_selector("#open-viewer:visible", timeout=ANALYSIS_TIMEOUT_MS)
    steps = page.locator("#steps li").all_inner_texts()
    assert steps[0] == "uploaded" and steps[-1].startswith("analysis finished in")
    assert page.inner_text("#job-status") == "done"
    page.click("#open-viewer")

    page.wait_for_selector("#viewer:visible")
    page.wait_for_function("() => document.getElementById('slice-img').complete && "
                           "document.getElementById('slice-img').naturalWidth > 0")
    sid = page.url.rstrip("/").split("/")[-1]
    out = data / "studies" / sid / "out"
    ct = read_ct(small_ct)
    nz, _, nx = ct.shape
    assert _label(page) == f"slice {nz // 2 + 1} / {nz}"
    assert page.evaluate("document.getElementById('slice-img').naturalWidth") == nx

    # scroll: wheel, keys, slider
    page.hover("#slice-img")
    page.mouse.wheel(0, 120)
    page.wait_for_function(f"() => document.getElementById('slice-label').textContent == "
                           f"'slice {nz // 2 + 2} / {nz}'")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    assert _label(page) == f"slice {nz // 2} / {nz}"
    page.keyboard.press("End")
    assert _label(page) == f"slice {nz} / {nz}"
    page.keyboard.press("Home")
    assert _label(page) == f"slice 1 / {nz}"
    lesions = read_mask(out / "lesions.nii.gz", ct)
    k = int(np.argmax((lesions > 0).sum(axis=(1, 2))))
    page.evaluate(f"(() => {{ const s = document.getElementById('slice-slider'); s.value = {k}; "
                  "s.dispatchEvent(new Event('input')); })()")
    assert _label(page) == f"slice {k + 1} / {nz}"
    src = page.get_attribute("#slice-img", "src")
    assert f"/slices/{k}.png" in src and "overlay=lungs,lesions" in src and "window=lung" in src

    # overlays and windows change what is shown
    def shot() -> bytes:
        page.wait_for_function("() => document.getElementById('slice-img').complete")
        return page.locator("#slice-img").screenshot()

    with_overlays = shot()
    page.uncheck("#ov-lesions")
    page.uncheck("#ov-lungs")
    assert "overlay=&" in page.get_attribute("#slice-img", "src")
    plain = shot()
    assert plain != with_overlays
    has_heat = (out / "heatmap.nii.gz").is_file()
    assert page.is_disabled("#ov-heatmap") != has_heat  # enabled only when a heat map exists
    page.click("#win-mediastinum")
    assert "window=mediastinum" in page.get_attribute("#slice-img", "src")
    assert shot() != plain
    page.click("#win-lung")
    page.check("#ov-lungs")
    page.check("#ov-lesions")
    page.fill("#opacity", "60")
    page.dispatch_event("#opacity", "input")
    assert "opacity=0.6" in page.get_attribute("#slice-img", "src")

    # the numbers shown are the analysis file's
    report = json.loads((out / "report.json").read_text())
    numbers = report["lesions"]["quantification"]
    cells = page.locator("#numbers td[data-key]")
    assert cells.count() == 6
    for i in range(cells.count()):
        cell = cells.nth(i)
        key = cell.get_attribute("data-key")
        assert json.loads(cell.get_attribute("data-value")) == numbers[key]
        unit = {"ct_category": ""}.get(key, "ml" if key.endswith("_ml") else "fraction")
        assert cell.inner_text() == _fmt(numbers[key], unit)
    for side in ("right", "left"):
        for zone in ("upper", "middle", "lower"):
            cell = page.locator(f"td[data-key='zones.{side}.{zone}']")
            assert cell.inner_text() == _fmt(numbers["zones"][side][zone], "fraction")
        cell = page.locator(f"td[data-key='{side}.lesion_fraction']")
        assert cell.inner_text() == _fmt(numbers[side]["lesion_fraction"], "fraction")
    links = page.locator("#links a[data-file]").evaluate_all("as => as.map(a => a.dataset.file)")
    assert set(links) == {p.name for p in out.iterdir() if p.is_file()} - {"report.html"}
    assert {"report.json", "lungs.nii.gz", "lesions.nii.gz"} <= set(links)
    report_page = page.request.get(base + page.get_attribute("#link-report", "href"))
    assert report_page.ok and report_page.body() == (out / "report.html").read_bytes()
    href = page.locator("a[data-file='report.json']").get_attribute("href")
    served_json = page.request.get(base + href).json()
    assert served_json == report

    page.wait_for_function("() => document.getElementById('slice-img').complete")
    screenshot = tmp_path / "serve-viewer.png"
    page.screenshot(path=str(screenshot), full_page=True)
    _not_blank(screenshot.read_bytes(), min_colours=200)
    slice_pixels = _not_blank(page.locator("#slice-img").screenshot(), min_colours=50)
    assert (np.abs(slice_pixels[..., 0].astype(int) - slice_pixels[..., 2]) > 60).any()  # colour
    _keep(screenshot)

    # the study list shows it as done with the share of lung involved
    page.goto(base + "/")
    row = page.locator(f"tr[data-id='{sid}']")
    row.wait_for()
    assert row.locator("td.status").inner_text() == "done"
    assert row.locator("td.num").inner_text() == _fmt(numbers["lesion_fraction"], "fraction")
    listing = tmp_path / "serve-list.png"
    page.screenshot(path=str(listing))
    _not_blank(listing.read_bytes(), min_colours=20)
    _keep(listing)
    # everything came from the app itself (works offline: no CDN)
    assert requested and all(url.startswith(base + "/") for url in requested), (
        sorted({u for u in requested if not u.startswith(base + "/")}))


def test_failed_upload_shows_the_readers_message(live_server, page, tmp_path):
    base, _ = live_server
    bad = tmp_path / "notes.nii.gz"
    bad.write_text("this is not a CT")
    page.goto(f"{base}/upload")
    page.set_input_files("#file", str(bad))
    page.click("#send")
    page.wait_for_selector("#retry:visible", timeout=120_000)
    assert page.inner_text("#job-status") == "failed"
    assert "notes.nii.gz is damaged" in page.inner_text("#job-error")
    shot = tmp_path / "serve-failed.png"
    page.screenshot(path=str(shot), full_page=True)
    _keep(shot)
    page.goto(f"{base}/")
    page.wait_for_selector("td.status-failed")
    assert "notes.nii.gz is damaged" in page.inner_text("td.error")
    page.click("button.retry")
    page.wait_for_function("() => !document.querySelector('td.status-failed') || "
                           "document.querySelector('td.status').textContent != 'failed'",
                           timeout=10_000)


def test_unsupported_file_is_refused_on_the_page(live_server, page, tmp_path):
    base, data = live_server
    bad = tmp_path / "photo.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0")
    page.goto(f"{base}/upload")
    page.set_input_files("#file", str(bad))
    page.click("#send")
    page.wait_for_selector("#job-error:has-text('not a file the analysis reads')")
    assert page.inner_text("#job-status") == "upload refused"
    assert list((data / "studies").iterdir()) == []
