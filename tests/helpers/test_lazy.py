"""Lazily exported names load their module on first use, and only then."""

from __future__ import annotations

import sys

import pytest

from helpers.lazy import lazy_exports


def test_a_name_loads_its_home_module_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    get, listed = lazy_exports("pkg", {"rgb_to_hsv": "colorsys", "dumps": "json"})
    assert "colorsys" not in sys.modules
    assert get("rgb_to_hsv")(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)
    assert "colorsys" in sys.modules
    assert listed() == ["dumps", "rgb_to_hsv"]


def test_an_unknown_name_is_an_attribute_error_naming_the_package() -> None:
    get, _ = lazy_exports("pkg", {})
    with pytest.raises(AttributeError, match="module 'pkg' has no attribute 'nothing'"):
        get("nothing")
