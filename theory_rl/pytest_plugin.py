"""pytest plugin: record rate checks of a test session as a ``verdicts.json`` report.

Installing ``theory_rl`` registers this module under the ``pytest11`` entry point ``theory_rl``;
pytest loads such plugins in every project, so on its own the module only adds its options and
does nothing else.  It is **active** when requested:

* ``pytest -p theory_rl`` (on the command line, in ``addopts`` or ``PYTEST_ADDOPTS``; this also
  loads it when ``PYTEST_DISABLE_PLUGIN_AUTOLOAD`` is set), or
* ``rate_checks = true`` in the ``[pytest]`` ini section (``[tool.pytest.ini_options]``), or
* ``--rate-checks``.

When active it provides

* the ``rate_check`` fixture (:class:`RateCheckRecorder`): ``rate_check.bound(...)``,
  ``rate_check.rate(...)``, ``rate_check.sample_complexity(...)`` and
  ``rate_check.monotone(...)`` call the :mod:`theory_rl.testing` assertion of that name, record
  its verdict (holding or not) and fail the test as the assertion does; ``rate_check(verdict)``
  records a :class:`~theory_rl.bounds.rates.Verdict` made elsewhere (e.g. by a claim's
  ``check``) and fails the test when it does not hold.  A :class:`~theory_rl.testing.RateCheckError`
  raised by a direct call of an assertion is recorded too (a direct call that passes is not:
  use the fixture to record passing checks);
* the marker ``statistical`` for slow statistical checks (registered, so ``--strict-markers``
  accepts it; deselect them with ``-m "not statistical"``);
* at the end of the session, ``verdicts.json`` in the schema of ``theory-rl verify``'s report
  (``theory_rl_version``, ``all_hold``, ``claims``, ``verdicts``): one claim entry per test that
  recorded a verdict, whose ``id`` is the test's node id (each verdict's ``claim_id`` too; its
  ``theorem`` names the assertion or the label passed to it), with ``grid = "pytest"``,
  ``source = "pytest"``, the test's ``outcome`` and whether it is ``statistical``;
* a short table of the verdicts in the terminal summary.

The report goes to ``--rate-checks-json PATH`` (relative to the working directory), else the
ini value ``rate_checks_json`` (relative to the rootdir), else
``<rootdir>/theory_rl_results/pytest/verdicts.json`` -- beside, not over, the default output of
``theory-rl verify`` (``./theory_rl_results/verdicts.json``).  Each session rewrites it.  Under
pytest-xdist only the controller writes, and verdicts recorded in workers are not collected.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

__all__ = ["RateCheckRecorder"]

PLUGIN_NAMES = ("theory_rl", "theory_rl.pytest_plugin")
DEFAULT_REPORT = Path("theory_rl_results") / "pytest" / "verdicts.json"
MARKER = "statistical: a slow statistical rate check (deselect with -m 'not statistical')"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("theory_rl", "theory_rl rate checks (active with -p theory_rl)")
    group.addoption(
        "--rate-checks",
        action="store_true",
        default=False,
        help="activate theory_rl's rate_check fixture and verdicts.json (same as -p theory_rl)",
    )
    group.addoption(
        "--rate-checks-json",
        default=None,
        metavar="PATH",
        help="where the active theory_rl plugin writes verdicts.json "
        "(default <rootdir>/theory_rl_results/pytest/verdicts.json)",
    )
    parser.addini("rate_checks", "activate theory_rl's rate checks", type="bool", default=False)
    parser.addini("rate_checks_json", "path of theory_rl's verdicts.json, relative to rootdir")


def _requested(config: pytest.Config) -> bool:
    plugins = config.getoption("plugins", None) or []
    return (
        any(p in PLUGIN_NAMES for p in plugins)
        or bool(config.getoption("rate_checks", False))
        or bool(config.getini("rate_checks"))
    )


def _report_path(config: pytest.Config) -> Path:
    option = config.getoption("rate_checks_json", None)
    if option:
        return Path(option).resolve()
    ini = config.getini("rate_checks_json")
    if ini:
        return (Path(config.rootpath) / ini).resolve()
    return Path(config.rootpath) / DEFAULT_REPORT


def pytest_configure(config: pytest.Config) -> None:
    if not _requested(config) or config.pluginmanager.has_plugin(_Session.NAME):
        return
    config.addinivalue_line("markers", MARKER)
    config.pluginmanager.register(_Session(config), _Session.NAME)


class RateCheckRecorder:
    """The ``rate_check`` fixture: record verdicts of one test (module docstring)."""

    def __init__(self, session: _Session, item: pytest.Item) -> None:
        self._session = session
        self._item = item

    def __call__(self, verdict: Any) -> Any:
        """Record ``verdict``; raise :class:`~theory_rl.testing.RateCheckError` when it fails."""
        __tracebackhide__ = True
        from theory_rl.bounds.rates import Verdict
        from theory_rl.testing import RateCheckError

        if not isinstance(verdict, Verdict):
            raise TypeError(f"rate_check records a Verdict, got {type(verdict).__name__}")
        self._session.record(self._item, verdict)
        if not verdict.holds:
            err = RateCheckError(verdict)
            err.theory_rl_recorded = True
            raise err
        return verdict

    def _run(self, name: str, args: Any, kwargs: Any) -> Any:
        __tracebackhide__ = True
        from theory_rl import testing

        return self(testing.verdict_of(getattr(testing, name), *args, **kwargs))

    def bound(self, *args: Any, **kwargs: Any) -> Any:
        """:func:`theory_rl.testing.assert_bound`, recorded."""
        __tracebackhide__ = True
        return self._run("assert_bound", args, kwargs)

    def rate(self, *args: Any, **kwargs: Any) -> Any:
        """:func:`theory_rl.testing.assert_rate`, recorded."""
        __tracebackhide__ = True
        return self._run("assert_rate", args, kwargs)

    def sample_complexity(self, *args: Any, **kwargs: Any) -> Any:
        """:func:`theory_rl.testing.assert_sample_complexity`, recorded."""
        __tracebackhide__ = True
        return self._run("assert_sample_complexity", args, kwargs)

    def monotone(self, *args: Any, **kwargs: Any) -> Any:
        """:func:`theory_rl.testing.assert_monotone`, recorded."""
        __tracebackhide__ = True
        return self._run("assert_monotone", args, kwargs)

    @property
    def verdicts(self) -> list[Any]:
        """The verdicts this test recorded so far."""
        return list(self._session.verdicts.get(self._item.nodeid, []))


class _Session:
    """The active plugin: the fixture, the records, the report and the summary."""

    NAME = "theory_rl-rate-checks"

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.path = _report_path(config)
        self.verdicts: dict[str, list[Any]] = {}
        self.items: dict[str, pytest.Item] = {}
        self.outcomes: dict[str, str] = {}

    def record(self, item: pytest.Item, verdict: Any) -> None:
        label = verdict.claim_id
        theorem = verdict.theorem if label == verdict.theorem else f"{label} ({verdict.theorem})"
        entry = dataclasses.replace(verdict, claim_id=item.nodeid, theorem=theorem)
        self.verdicts.setdefault(item.nodeid, []).append(entry)
        self.items[item.nodeid] = item

    @pytest.fixture
    def rate_check(self, request: pytest.FixtureRequest) -> RateCheckRecorder:
        """Record rate checks of this test in the session's verdicts.json (see
        :mod:`theory_rl.pytest_plugin`)."""
        return RateCheckRecorder(self, request.node)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> Any:
        report = yield
        from theory_rl.testing import RateCheckError

        error = call.excinfo.value if call.excinfo is not None else None
        if isinstance(error, RateCheckError) and not getattr(error, "theory_rl_recorded", False):
            self.record(item, error.verdict)
            error.theory_rl_recorded = True
        # the call's outcome, or a failed setup's
        if report.when == "call" or (
            report.outcome != "passed" and item.nodeid not in self.outcomes
        ):
            self.outcomes[item.nodeid] = report.outcome
        return report

    def _records(self) -> tuple[list[dict[str, Any]], list[Any]]:
        records, verdicts = [], []
        for nodeid, vs in self.verdicts.items():
            item = self.items[nodeid]
            doc = getattr(getattr(item, "function", None), "__doc__", None) or ""
            records.append(
                {
                    "id": nodeid,
                    "paper": "",
                    "theorem": "pytest test",
                    "statement": doc.strip().split("\n\n")[0].replace("\n", " "),
                    "caption": "",
                    "grid": "pytest",
                    "n_configs": len(vs),
                    "seed": None,
                    "holds": all(v.holds for v in vs),
                    "source": "pytest",
                    "outcome": self.outcomes.get(nodeid, "unknown"),
                    "statistical": item.get_closest_marker("statistical") is not None,
                }
            )
            verdicts.extend(vs)
        return records, verdicts

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if hasattr(self.config, "workerinput"):  # a pytest-xdist worker
            return
        from theory_rl.experiments.cli import _write_report

        records, verdicts = self._records()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():
            self.path.unlink()  # each session rewrites the report
        _write_report(self.path, records, verdicts, [r["id"] for r in records])

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if hasattr(self.config, "workerinput"):
            return
        tr = terminalreporter
        tr.write_sep("=", "theory_rl rate checks")
        records, verdicts = self._records()
        for v in verdicts:
            status = "holds" if v.holds else "FAILS"
            measured = v.measured if len(v.measured) <= 90 else v.measured[:87] + "..."
            tr.write_line(f"{status:5}  {v.claim_id}  [{v.theorem}]")
            tr.write_line(f"       {measured}")
        n_fail = sum(not v.holds for v in verdicts)
        summary = "all hold" if not n_fail else f"{n_fail} FAIL"
        tr.write_line(
            f"{len(verdicts)} verdicts from {len(records)} tests: {summary}; report {self.path}"
        )
