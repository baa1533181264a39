"""The tools' shared argument types."""

from __future__ import annotations

import argparse

import pytest

from helpers.tools.arguments import non_negative_float, positive_int


def test_a_positive_integer_is_taken() -> None:
    assert positive_int("1") == 1
    assert positive_int("200") == 200


@pytest.mark.parametrize("text", ["0", "-3"])
def test_zero_or_less_is_refused_with_the_value(text: str) -> None:
    expected = f"expected a positive integer, got {text}"
    with pytest.raises(argparse.ArgumentTypeError, match=expected):
        positive_int(text)


def test_a_word_is_refused_by_argparse() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=positive_int)
    with pytest.raises(SystemExit):
        parser.parse_args(["--n", "many"])


@pytest.mark.parametrize(("text", "value"), [("0", 0.0), ("2000", 2000.0), ("0.5", 0.5)])
def test_a_non_negative_number_is_taken(text: str, value: float) -> None:
    assert non_negative_float(text) == value


@pytest.mark.parametrize("text", ["-1", "nan", "inf"])
def test_a_negative_or_endless_number_is_refused(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match=f"got {text}"):
        non_negative_float(text)
