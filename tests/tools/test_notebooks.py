"""`python -m helpers notebooks`: what it keeps of a run, how it compares two, its command line."""

from __future__ import annotations

import nbformat
import pytest
from nbformat import NotebookNode

from helpers.tools.notebooks import (
    WIDGET_VIEW,
    comparable,
    differences,
    embedded_env,
    engine_env,
    error_cells,
    main,
    normalise,
)


def _executed(outputs: list[dict[str, object]], count: int = 7) -> NotebookNode:
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("x")
    cell.execution_count = count
    cell.outputs = [nbformat.from_dict(output) for output in outputs]
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), cell]
    nb.metadata.widgets = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    nb.metadata.language_info = {"name": "python", "version": "3.11.7"}
    return nb


def test_normalise_drops_widget_references_and_run_details() -> None:
    view = {"model_id": "abc", "version_major": 2, "version_minor": 0}
    nb = normalise(
        _executed(
            [
                {
                    "output_type": "display_data",
                    "metadata": {},
                    "data": {"text/plain": "A live view.", WIDGET_VIEW: view},
                },
                {"output_type": "display_data", "metadata": {}, "data": {WIDGET_VIEW: view}},
                {"output_type": "execute_result", "metadata": {}, "execution_count": 7,
                 "data": {"text/plain": "1"}},
            ]
        )
    )
    outputs = nb.cells[1].outputs
    assert [dict(o.data) for o in outputs] == [{"text/plain": "A live view."}, {"text/plain": "1"}]
    assert nb.cells[1].execution_count == 1
    assert outputs[1].execution_count == 1
    assert "widgets" not in nb.metadata
    assert nb.metadata.language_info == {"name": "python"}
    assert nb.metadata.kernelspec.name == "python3"


def test_comparison_merges_streams_skips_images_and_sanitizes() -> None:
    sanitizers = [(r"\d+\.\d+ s", "<seconds> s")]
    a = _executed(
        [
            {"output_type": "stream", "name": "stdout", "text": "took 1.20 s\n"},
            {"output_type": "stream", "name": "stdout", "text": "done\n"},
            {"output_type": "display_data", "metadata": {},
             "data": {"text/plain": "<Figure>", "image/png": "AAAA"}},
        ]
    )
    b = _executed(
        [
            {"output_type": "stream", "name": "stdout", "text": "took 2.50 s\ndone\n"},
            {"output_type": "display_data", "metadata": {},
             "data": {"text/plain": "<Figure>", "image/png": "BBBB"}},
        ]
    )
    assert comparable(a, sanitizers) == comparable(b, sanitizers)
    assert differences(a, b, sanitizers) == []
    c = _executed([{"output_type": "stream", "name": "stdout", "text": "took 2.50 s\nfailed\n"}])
    assert differences(a, c, sanitizers) == [
        "code cell 1: committed [{'stdout': 'took <seconds> s\\ndone\\n'}, {'text/plain': "
        "'<Figure>'}] but a fresh run gives [{'stdout': 'took <seconds> s\\nfailed\\n'}]"
    ]


def test_embedded_env_drops_every_backend_setting() -> None:
    env = embedded_env(
        {"PATH": "/bin", "OPENAI_API_KEY": "k", "OPENAI_BASE_URL": "u", "TUTORIAL_MODEL": "m"}
    )
    assert env == {"PATH": "/bin", "TUTORIAL_BACKEND": "embedded", "TUTORIAL_PROFILE": "realistic"}


def test_engine_env_points_at_the_engine_and_drops_the_learners_settings() -> None:
    env = engine_env(
        {"PATH": "/bin", "OPENAI_API_KEY": "sk-mine", "TUTORIAL_PROFILE": "fast"},
        "http://127.0.0.1:9/v1",
        model="tiny",
    )
    assert env == {
        "PATH": "/bin",
        "TUTORIAL_BACKEND": "compatible",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "TUTORIAL_MODEL": "tiny",
    }
    assert engine_env({}, "http://h/v1", api_key="room-token")["OPENAI_API_KEY"] == "room-token"


def test_error_cells_name_each_failing_code_cell_by_its_index() -> None:
    nb = _executed([{"output_type": "stream", "name": "stdout", "text": "fine"}])
    failing = nbformat.v4.new_code_cell("1 / 0")
    failing.outputs = [
        nbformat.from_dict(
            {
                "output_type": "error",
                "ename": "ZeroDivisionError",
                "evalue": "division by zero",
                "traceback": [],
            }
        )
    ]
    nb.cells += [nbformat.v4.new_markdown_cell("text"), failing]
    assert error_cells(nb) == [(1, "ZeroDivisionError: division by zero")]


def test_command_rejects_unknown_notebooks(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["99_nothing.ipynb"]) == 2
    assert "Not a lesson notebook: 99_nothing.ipynb" in capsys.readouterr().err
