"""``report.html``: written by ``theory-rl verify``, rewritten by ``theory-rl report``, and
rendered in headless Chromium (Debian's ``chromium``; that test skips only without it)."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import types
from html.parser import HTMLParser

import numpy as np
import pytest
from test_cli import fake_claim_module

from theory_rl.experiments import registry
from theory_rl.experiments.cli import main
from theory_rl.experiments.report import render_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


class Page(HTMLParser):
    """What the tests read from a page: verdict rows, figures, scripts and external links."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.rows: list[tuple[str, bool]] = []  # (claim, holds) per verdict row, in order
        self.figures: dict[str, str | None] = {}  # claim -> img src (None: no image)
        self.groups: list[str] = []  # tbody ids, in order
        self.links: list[str] = []
        self.scripts = 0
        self._figure: str | None = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "tr" and "data-claim" in a:
            self.rows.append((a["data-claim"], a["data-holds"] == "true"))
        elif tag == "tbody":
            self.groups.append(a.get("id", ""))
        elif tag == "figure":
            self._figure = a.get("data-claim")
            self.figures[self._figure] = None
        elif tag == "img" and self._figure is not None:
            self.figures[self._figure] = a.get("src")
        elif tag == "script":
            self.scripts += 1
        for key in ("href", "src"):
            if key in a:
                self.links.append(a[key])

    def handle_endtag(self, tag):
        if tag == "figure":
            self._figure = None


@pytest.fixture
def families_registry(monkeypatch):
    """Install fake claim modules as families ``{family: [modules]}`` (registry order)."""

    def install(layout: dict[str, list[types.ModuleType]]) -> None:
        for mods in layout.values():
            for m in mods:
                monkeypatch.setitem(sys.modules, m.__name__, m)
        found = tuple((f, tuple(mods)) for f, mods in layout.items())
        monkeypatch.setattr(registry, "_discover", lambda: found)

    return install


def small_run(tmp_path, families_registry, *, with_failures: bool = True):
    """Run ``theory-rl verify --quick`` on fake claims in two families; returns the out dir.

    With failures: ``dp`` holds ``a_ok`` and ``b_fails``, ``pmd`` holds ``c_ok`` and ``d_boom``
    (its compute raises, so it has no figure).
    """
    if with_failures:
        layout = {
            "dp": [fake_claim_module("a_ok"), fake_claim_module("b_fails", holds=False)],
            "pmd": [fake_claim_module("c_ok"), fake_claim_module("d_boom", raises=True)],
        }
    else:
        layout = {"dp": [fake_claim_module("a_ok")], "pmd": [fake_claim_module("c_ok")]}
    families_registry(layout)
    out = tmp_path / "out"
    rc = main(["verify", "--quick", "--workers", "1", "--out", str(out)])
    assert rc == (1 if with_failures else 0)
    return out


def check_page(page: Page, *, failing: list[str], holding: list[str], no_figure=()) -> None:
    """Every claim has a row and a figure; failing claims come first."""
    claims_in_order = list(dict.fromkeys(c for c, _ in page.rows))
    assert claims_in_order == failing + holding
    assert [h for c, h in page.rows if c in failing] == [False] * len(failing)
    assert all(h for c, h in page.rows if c in holding)
    assert list(page.figures) == failing + holding
    for cid, src in page.figures.items():
        if cid in no_figure:
            assert src is None
            continue
        assert src is not None and src.startswith("data:image/png;base64,"), cid
        assert base64.b64decode(src.split(",", 1)[1])[:8] == PNG_SIGNATURE
    assert page.scripts == 0
    assert all(link.startswith(("#", "data:")) for link in page.links), page.links


def test_verify_writes_a_self_contained_report(tmp_path, families_registry, capsys):
    out = small_run(tmp_path, families_registry)
    assert f"page {out / 'report.html'}" in capsys.readouterr().out
    text = (out / "report.html").read_text()
    page = Page(text)
    check_page(page, failing=["b_fails", "d_boom"], holding=["a_ok", "c_ok"],
               no_figure=["d_boom"])
    assert page.groups == ["failing", "family-dp", "family-pmd"]
    assert "2 of 4 verdicts FAIL" in text and "no figure (the claim errored)" in text
    assert "compute exploded" in text  # the error's traceback, under the row's detail
    # Each row links to its figure, which is an anchor on the page.
    for cid in ("a_ok", "b_fails", "c_ok", "d_boom"):
        assert f'href="#fig-{cid}"' in text and f'id="fig-{cid}"' in text
    run = json.loads((out / "verdicts.json").read_text())["run"]
    assert run["grid"] == "QUICK_GRID" and run["seed"] == 0 and run["machine"]["cores"] >= 1
    for shown in (run["theory_rl_version"], run["machine"]["cpu"], run["date"], "QUICK_GRID"):
        assert shown in text
    assert [c["family"] for c in json.loads((out / "verdicts.json").read_text())["claims"]] == [
        "dp", "dp", "pmd", "pmd"]


def test_report_command_rewrites_the_page_byte_for_byte(tmp_path, families_registry, capsys):
    out = small_run(tmp_path, families_registry)
    first = (out / "report.html").read_bytes()
    assert main(["report", str(out / "verdicts.json"), "--html", str(tmp_path / "again.html")]) == 0
    assert (tmp_path / "again.html").read_bytes() == first
    (out / "report.html").unlink()
    assert main(["report", str(out / "verdicts.json")]) == 0
    assert (out / "report.html").read_bytes() == first
    # A figure gone from disk is named on the page; a broken report is a usage error.
    (out / "a_ok.png").unlink()
    assert main(["report", str(out / "verdicts.json")]) == 0
    assert "figure a_ok.png missing" in (out / "report.html").read_text()
    bad = tmp_path / "bad.json"
    bad.write_text('{"verdicts": 3}')
    capsys.readouterr()
    assert main(["report", str(bad)]) == 2
    assert f"verdicts report {bad} has no 'verdicts' list" in capsys.readouterr().err


def test_all_holding_report_has_no_failure_group(tmp_path, families_registry):
    out = small_run(tmp_path, families_registry, with_failures=False)
    text = (out / "report.html").read_text()
    page = Page(text)
    check_page(page, failing=[], holding=["a_ok", "c_ok"])
    assert "failing" not in page.groups and "all 2 verdicts from 2 claims hold" in text


def test_render_report_orders_failures_first_even_against_the_file_order():
    """A verdict failing in a family listed last still comes first; a report's claims with no
    record of their own still get a row (a check that sorted wrongly would fail here)."""
    def v(cid, holds):
        return {"claim_id": cid, "paper": "P", "theorem": "T", "stated": "s", "measured": "m",
                "holds": holds, "detail": "", "metrics": {}}

    report = {
        "claims": [{"id": "x", "family": "zz"}, {"id": "y", "family": "aa"}],
        "verdicts": [v("x", True), v("y", True), v("y", False), v("orphan", True)],
    }
    text = render_report(report, ".")
    page = Page(text)
    assert "<th>git commit</th><td>not recorded</td>" in text  # no "run" block in this report
    # Families not registered follow alphabetically: "aa", "other" (no record), "zz".
    assert page.rows == [("y", True), ("y", False), ("orphan", True), ("x", True)]
    assert page.groups[0] == "failing"
    with pytest.raises(ValueError, match="no 'verdicts' list"):
        render_report({"claims": []}, ".")


CHROMIUM = shutil.which("chromium")


def chromium(url: str, tmp_path, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",  # CI runs as root in a container
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        *args,
        url,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True)


def red_pixels(png) -> int:
    """Pixels of the report's failure red (#c62828 and its light row tint excluded)."""
    import matplotlib.image as mpimg

    img = mpimg.imread(png)[..., :3]
    r, g, b = img[..., 0], img[..., 1], img[..., 2]
    return int(np.count_nonzero((r > 0.6) & (g < 0.3) & (b < 0.3)))


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")
def test_report_renders_in_headless_chromium(tmp_path, families_registry):
    import matplotlib.image as mpimg

    out = small_run(tmp_path, families_registry)
    url = (out / "report.html").resolve().as_uri()
    dom = chromium(url, tmp_path, "--dump-dom").stdout
    check_page(Page(dom), failing=["b_fails", "d_boom"], holding=["a_ok", "c_ok"],
               no_figure=["d_boom"])
    shot = tmp_path / "shot.png"
    chromium(url, tmp_path, f"--screenshot={shot}", "--window-size=1200,1400")
    img = mpimg.imread(shot)
    assert img.shape[:2] == (1400, 1200)
    assert float(img[..., :3].std()) > 0.05, "the screenshot is blank"
    assert red_pixels(shot) > 5000, "the failures are not marked red at the top of the page"

    # The same page without failures shows no red: the red check can fail.
    clean = small_run(tmp_path / "clean", families_registry, with_failures=False)
    shot2 = tmp_path / "clean.png"
    chromium((clean / "report.html").resolve().as_uri(), tmp_path, f"--screenshot={shot2}",
             "--window-size=1200,1400")
    assert float(mpimg.imread(shot2)[..., :3].std()) > 0.05
    assert red_pixels(shot2) == 0
