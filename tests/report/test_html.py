"""report.html: self-contained (no external references), key numbers and the research-use line."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from covidct.report import RESEARCH_USE, external_references, write_report


class _Refs(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.refs: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for name, value in attrs:
            if name in ("src", "href", "action", "poster", "data", "srcset") and value:
                self.refs.append(value)


@pytest.fixture(scope="module")
def page(sim_analysis, tmp_path_factory):
    files = write_report(sim_analysis, tmp_path_factory.mktemp("html") / "out")
    return files, files.html.read_text(encoding="utf-8")


def test_no_external_references(page):
    _, html = page
    parser = _Refs()
    parser.feed(html)
    assert parser.refs, "the page should embed its pictures"
    assert all(r.startswith("data:image/png;base64,") for r in parser.refs)
    assert "script" not in parser.tags and "link" not in parser.tags
    assert external_references(html) == []
    assert "http://" not in html and "https://" not in html


@pytest.mark.parametrize("snippet", [
    '<img src="https://example.org/x.png">', "<link href='style.css'>",
    "<div style=\"background: url(http://x/y.png)\">", "<style>@import 'a.css';</style>",
])
def test_external_reference_check_finds_them(snippet):
    assert external_references(f"<html>{snippet}</html>")


def test_key_numbers_and_research_line(page):
    files, html = page
    s = files.record["summary"]
    assert html.count(RESEARCH_USE) == 2
    assert f"{100 * s['lesion_fraction']:.1f} %" in html
    assert s["ct_category"] in html
    assert html.index(s["ct_category"]) < html.index("Axial slices")  # key numbers first
    zones = files.record["lesions"]["quantification"]["zones"]["left"]
    assert f"{100 * zones['lower']:.1f} %" in html
    assert "Heat map:" in html
    if files.record["model"]:
        assert "SIMULATED" in html
    assert html.count("data:image/png;base64,") >= 3
