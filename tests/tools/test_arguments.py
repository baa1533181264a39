"""The tools' shared argument types."""

from __future__ import annotations

import argparse

import pytest

from helpers.tools.arguments import positive_int


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
