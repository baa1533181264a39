"""helpers' public list stays honest: every name in __all__ resolves, and nothing is left out."""

from __future__ import annotations

import subprocess
import sys

import helpers


def test_every_exported_name_resolves() -> None:
    for name in helpers.__all__:
        if name != "MODEL":  # MODEL asks the backend; covered by test_backend.
            assert getattr(helpers, name) is not None, name


def test_all_lists_exactly_the_lazily_loaded_names() -> None:
    assert set(helpers.__all__) == {"MODEL", *helpers._HOMES}
    assert len(helpers.__all__) == len(set(helpers.__all__))


def test_unknown_name_is_an_attribute_error() -> None:
    try:
        helpers.no_such_helper  # type: ignore[attr-defined]  # noqa: B018
    except AttributeError as exc:
        assert "no_such_helper" in str(exc)
    else:
        raise AssertionError("helpers.no_such_helper should not exist")


def test_importing_helpers_loads_no_widgets_plots_or_server() -> None:
    """`python -m helpers serve` must start fast: importing the package loads none of these."""
    code = (
        "import sys, helpers; "
        "heavy = [m for m in ('ipywidgets', 'matplotlib', 'uvicorn', 'helpers.server.embedded') "
        "if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
