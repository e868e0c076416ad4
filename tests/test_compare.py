"""Verdicts across versions: ``compare_reports``, ``theory-rl compare`` and ``verify --compare``."""

from __future__ import annotations

import json

import pytest
from test_cli import fake_claim_module, fake_registry  # noqa: F401  (fake_registry: a fixture)

from theory_rl.bounds.rates import Verdict
from theory_rl.experiments.cli import main
from theory_rl.experiments.compare import DEFAULT_RTOL, compare_reports, load_report


def verdict(cid, stated="x <= 1", *, holds=True, measured="m", **metrics):
    return {
        "claim_id": cid,
        "paper": "P",
        "theorem": "T",
        "stated": stated,
        "measured": measured,
        "holds": holds,
        "detail": "",
        "metrics": metrics,
    }


def report(*verdicts):
    ids = list(dict.fromkeys(v["claim_id"] for v in verdicts))
    return {
        "theory_rl_version": "0",
        "all_hold": all(v["holds"] for v in verdicts),
        "claims": [{"id": i, "holds": all(v["holds"] for v in verdicts if v["claim_id"] == i)}
                   for i in ids],
        "verdicts": list(verdicts),
    }


def write(path, rep):
    path.write_text(json.dumps(rep))
    return path


def test_identical_reports_show_no_change():
    r = report(verdict("a", ratio=0.5), verdict("b", n=3))
    c = compare_reports(r, r)
    assert not c.changed and c.n_compared == 2 and c.regressions == ()
    assert "no change" in c.format()


def test_added_and_removed_claims_and_verdicts():
    old = report(verdict("a"), verdict("gone"), verdict("b", "s1"), verdict("b", "s2"))
    new = report(verdict("a"), verdict("b", "s1"), verdict("new_claim"))
    c = compare_reports(old, new)
    assert c.added_claims == ("new_claim",) and c.removed_claims == ("gone",)
    assert [v.stated for v in c.removed_verdicts] == ["s2"] and c.added_verdicts == ()
    text = c.format()
    assert "claim added: new_claim" in text and "claim removed: gone" in text
    assert "verdict removed: b [s2]" in text
    # A restricted comparison (a run of --only a b) does not call the others removed.
    assert compare_reports(old, new, claims=["a", "b"]).removed_claims == ()


def test_flipped_verdicts_regression_and_fix():
    old = report(verdict("a", holds=True, measured="0.9"), verdict("b", holds=False))
    new = report(verdict("a", holds=False, measured="1.2"), verdict("b", holds=True))
    c = compare_reports(old, new)
    assert [(f.claim_id, f.old_holds, f.new_holds) for f in c.flipped] == [
        ("a", True, False),
        ("b", False, True),
    ]
    assert [f.claim_id for f in c.regressions] == ["a"]
    text = c.format()
    assert "REGRESSION: a [x <= 1] holds -> FAILS; measured was: 0.9; now: 1.2" in text
    assert "fixed: b" in text
    assert text.index("REGRESSION") < text.index("fixed")


def test_moved_figure_beyond_rtol_is_reported_and_within_is_not():
    assert DEFAULT_RTOL == 1e-6
    old = report(verdict("a", ratio=0.5, rate=0.9, n=40, big="inf", slopes=[1.0, 2.0]))
    new = report(
        verdict("a", ratio=0.5 * (1 + 1e-9), rate=0.9 * (1 + 1e-4), n=41, big="inf",
                slopes=[1.0, 2.0 + 1e-2])
    )
    c = compare_reports(old, new)
    moved = {m.metric: m for m in c.moved}
    assert set(moved) == {"rate", "n", "slopes"}  # ratio moved by 1e-9 relative: not reported
    assert moved["rate"].rel_change == pytest.approx(1e-4, rel=1e-3)
    assert moved["n"].old == 40 and moved["n"].new == 41
    assert "moved: a [x <= 1] rate: 0.9 -> 0.90009" in c.format()
    # The tolerance is the knob: 1e-3 hides the rate's move, 0 reports even the 1e-9 one.
    assert {m.metric for m in compare_reports(old, new, 1e-3).moved} == {"n", "slopes"}
    assert "ratio" in {m.metric for m in compare_reports(old, new, 0.0).moved}
    # atol hides figures that are themselves round-off.
    tiny_old, tiny_new = report(verdict("a", excess=3e-15)), report(verdict("a", excess=4e-15))
    assert [m.metric for m in compare_reports(tiny_old, tiny_new).moved] == ["excess"]
    assert compare_reports(tiny_old, tiny_new, atol=1e-12).moved == ()
    # A figure that appears or disappears, or becomes non-finite, is a move.
    c2 = compare_reports(report(verdict("a", x=1.0)), report(verdict("a", x="nan", y=2)))
    assert {(m.metric, m.old, m.new) for m in c2.moved} == {("x", 1.0, "nan"), ("y", None, 2)}


def test_matching_by_statement_then_by_position():
    old = report(verdict("a", "same", v=1.0), verdict("a", "other", v=5.0),
                 verdict("a", "same", v=2.0), verdict("a", "old words", v=3.0))
    new = report(verdict("a", "other", v=5.0), verdict("a", "same", v=1.0),
                 verdict("a", "same", v=2.0), verdict("a", "new words", v=3.0))
    c = compare_reports(old, new)
    # Statements pair first, the two "same" in order (no move despite the reordering); the
    # reworded verdict pairs with the one at its position.
    assert c.moved == () and c.added_verdicts == () and c.removed_verdicts == ()
    assert [(r.old_stated, r.new_stated) for r in c.restated] == [("old words", "new words")]


def test_bad_tolerance_and_malformed_reports(tmp_path):
    r = report(verdict("a"))
    with pytest.raises(ValueError, match="rtol must be a finite number >= 0"):
        compare_reports(r, r, -1.0)
    with pytest.raises(ValueError, match="atol must be"):
        compare_reports(r, r, atol=float("nan"))
    bad = tmp_path / "broken.json"
    bad.write_text('{"verdicts": [')
    with pytest.raises(ValueError, match=r"broken\.json is not valid JSON: .* line 1"):
        load_report(bad)
    no_verdicts = write(tmp_path / "empty.json", {"claims": []})
    with pytest.raises(ValueError, match=r"empty\.json has no 'verdicts' list"):
        compare_reports(no_verdicts, r)
    wrong = write(tmp_path / "wrong.json", {"verdicts": [{"claim_id": "a", "stated": "s"}]})
    with pytest.raises(ValueError, match=r"wrong\.json: verdicts\[0\]\.holds is missing"):
        compare_reports(r, wrong)
    with pytest.raises(ValueError, match=r"cannot read verdicts report .*absent\.json"):
        load_report(tmp_path / "absent.json")


def test_compare_command(tmp_path, capsys):
    old = write(tmp_path / "old.json", report(verdict("a", ratio=0.5), verdict("b")))
    same = write(tmp_path / "same.json", report(verdict("a", ratio=0.5), verdict("b")))
    worse = write(tmp_path / "worse.json", report(verdict("a", ratio=1.5, holds=False),
                                                   verdict("b")))
    assert main(["compare", str(old), str(same)]) == 0
    assert "no change" in capsys.readouterr().out
    assert main(["compare", str(old), str(worse)]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION: a" in out and "moved: a [x <= 1] ratio: 0.5 -> 1.5" in out
    assert main(["compare", str(worse), str(old)]) == 0  # a fix is not a failure
    assert "fixed: a" in capsys.readouterr().out
    assert main(["compare", str(old), str(worse), "--rtol", "10"]) == 1
    out = capsys.readouterr().out
    assert "moved:" not in out and "0 figure(s) moved" in out
    bad = tmp_path / "bad.json"
    bad.write_text("not json")
    assert main(["compare", str(old), str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"verdicts report {bad} is not valid JSON" in err


def metric_claim(name, *, holds=True, ratio=0.5):
    """A fake claim whose verdict carries a measured figure."""
    mod = fake_claim_module(name)

    def check(frame):
        return [
            Verdict(claim_id=name, paper="Test (2024)", theorem="Thm 0", stated="x <= 1",
                    measured=f"ratio {ratio}", holds=holds, metrics={"ratio": ratio})
        ]

    mod.check = check
    return mod


def test_verify_compare_reports_changes_and_exits_1_on_a_flip(
    tmp_path, capsys, fake_registry  # noqa: F811
):
    args = ["verify", "--quick", "--workers", "1"]
    fake_registry(metric_claim("steady"), metric_claim("fragile"), metric_claim("dropped"))
    assert main([*args, "--out", str(tmp_path / "base")]) == 0
    baseline = str(tmp_path / "base" / "verdicts.json")
    capsys.readouterr()

    # Same code, same figures: nothing changed, status 0.
    assert main([*args, "--out", str(tmp_path / "same"), "--compare", baseline]) == 0
    assert "no change" in capsys.readouterr().out

    # An injected bug: "fragile" now fails, "steady"'s figure moved, a claim went, one came.
    fake_registry(metric_claim("steady", ratio=0.6), metric_claim("fragile", holds=False),
                  metric_claim("added"))
    rc = main([*args, "--out", str(tmp_path / "new"), "--compare", baseline])
    out = capsys.readouterr().out
    assert rc == 1
    assert "REGRESSION: fragile" in out and "moved: steady [x <= 1] ratio: 0.5 -> 0.6" in out
    assert "claim added: added" in out and "claim removed: dropped" in out

    # --only: the comparison covers the selected claims only; within rtol, no move reported.
    fake_registry(metric_claim("steady", ratio=0.5 * (1 + 1e-9)), metric_claim("fragile"),
                  metric_claim("dropped"))
    rc = main([*args, "--only", "steady", "--out", str(tmp_path / "o"), "--compare", baseline])
    out = capsys.readouterr().out
    assert rc == 0 and "no change" in out and "removed" not in out

    # A malformed baseline is a usage error before anything runs.
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    assert main([*args, "--out", str(tmp_path / "x"), "--compare", str(bad)]) == 2
    assert "bad.json is not valid JSON" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()
    assert main([*args, "--out", str(tmp_path / "x"), "--compare", baseline,
                 "--compare-rtol", "-1"]) == 2
    assert "--compare-rtol must be a finite number >= 0" in capsys.readouterr().err
