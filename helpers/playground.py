"""Interactive displays for notebook 03: the Playground, two live views side by side, the race.

The Playground streams a learner's prompt into a fresh `LiveView` each time its button is pressed.
Button handlers run outside any cell, so whatever they display would be lost; the handler
therefore works inside an `Output` widget (`with output:`, on the kernel's main thread, as
ipywidgets advises), which collects the live view and its final text.
"""

from __future__ import annotations

import threading
from typing import Any

import ipywidgets
import openai
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessageParam

from helpers.backend import current_backend, resolve_model
from helpers.display import show
from helpers.live import LiveView, StreamInterrupted
from helpers.server.timing import PROFILES

__all__ = ["Playground", "SideBySide", "race", "side_by_side", "whole_answer"]

DEFAULT_PROMPT = (
    "Count to 100, with a comma between each number and no newlines. E.g., 1, 2, 3, ..."
)
PLAYGROUND_REPR = (
    "Playground: type a prompt and press Stream to watch the answer arrive "
    "(it needs a running kernel)."
)
SIDE_BY_SIDE_REPR = (
    "Live views side by side (they need a running kernel); each one's final text follows below."
)


def _mimebundle(widget: ipywidgets.Widget, plain: str, **kwargs: Any) -> dict[str, Any]:
    # A widget's own text/plain is its Python repr ("VBox(children=(...))"), which is what a
    # reopened notebook, GitHub and nbviewer show in its place: give them a sentence instead.
    bundle: dict[str, Any] = widget._repr_mimebundle_(**kwargs) or {}
    bundle["text/plain"] = plain
    return bundle


class Playground:
    """A prompt box, a latency-profile menu (embedded backend only) and a Stream button."""

    def __init__(
        self,
        client: openai.OpenAI,
        model: str | None = None,
        prompt: str = DEFAULT_PROMPT,
        simulated: bool | None = None,
    ) -> None:
        """`simulated`: whether `client` talks to the embedded simulation (default: whether the
        current backend is the embedded one)."""
        self.client = client
        self.model = model if model is not None else resolve_model()
        # The profile is a setting of the simulation; real engines would reject the field.
        self.simulated = current_backend().kind == "embedded" if simulated is None else simulated
        self.prompt = ipywidgets.Textarea(
            value=prompt,
            description="Prompt",
            layout=ipywidgets.Layout(width="100%", height="4em"),
        )
        self.prompt.add_class("streaming-lab-playground-prompt")
        self.profile = ipywidgets.Dropdown(
            options=list(PROFILES), value="realistic", description="Profile"
        )
        self.profile.add_class("streaming-lab-playground-profile")
        self.button = ipywidgets.Button(description="Stream", icon="play", button_style="primary")
        self.button.add_class("streaming-lab-playground-button")
        self.button.on_click(self._on_click)
        self.output = ipywidgets.Output()
        controls = [self.profile, self.button] if self.simulated else [self.button]
        self.widget = ipywidgets.VBox(
            [self.prompt, ipywidgets.HBox(controls), self.output],
            layout=ipywidgets.Layout(width="100%"),
        )
        self.widget.add_class("streaming-lab-playground")
        self.view: LiveView | None = None

    def __repr__(self) -> str:
        return PLAYGROUND_REPR

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        return _mimebundle(self.widget, PLAYGROUND_REPR, **kwargs)

    def request(self) -> dict[str, Any]:
        """The keyword arguments `stream()` passes to `client.chat.completions.create`."""
        arguments: dict[str, Any] = {
            "model": self.model,
            "messages": [{"role": "user", "content": self.prompt.value}],
            "stream": True,
        }
        if self.simulated:
            arguments["extra_body"] = {"simulation": {"profile": self.profile.value}}
        return arguments

    def stream(self) -> LiveView:
        """Stream the prompt into a new live view in the output area; what the button does."""
        self.button.disabled = True
        self.output.clear_output()
        try:
            with self.output:
                self.view = view = LiveView()
                with view, self.client.chat.completions.create(**self.request()) as stream:
                    for _ in view.follow(stream):
                        pass
        except StreamInterrupted:
            # The view already says it stopped; a button press queues no cells to skip.
            pass
        finally:
            self.button.disabled = False
        return view

    def _on_click(self, _button: ipywidgets.Button) -> None:
        self.stream()


class SideBySide:
    """Live views shown next to each other in one row."""

    def __init__(self, views: tuple[LiveView, ...]) -> None:
        outputs = []
        for view in views:
            output = ipywidgets.Output(layout=ipywidgets.Layout(flex="1", min_width="0"))
            # Rendering the view into the row also tells it that it is on screen, so following
            # a stream will not display it a second time below.
            output.append_display_data(view)
            outputs.append(output)
        self.widget = ipywidgets.HBox(outputs, layout=ipywidgets.Layout(width="100%"))
        self.widget.add_class("streaming-lab-side-by-side")

    def __repr__(self) -> str:
        return SIDE_BY_SIDE_REPR

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        return _mimebundle(self.widget, SIDE_BY_SIDE_REPR, **kwargs)


def side_by_side(*views: LiveView) -> SideBySide:
    """Show `views` in one row (display the result, then follow a stream in each)."""
    assert views, "side_by_side needs at least one LiveView"
    return SideBySide(views)


def whole_answer(response: ChatCompletion) -> list[ChatCompletionChunk]:
    """A blocking response as a stream of one chunk, so a `LiveView` can show it all at once."""
    choices = [
        {
            "index": choice.index,
            "delta": {"role": choice.message.role, "content": choice.message.content},
            "finish_reason": choice.finish_reason,
        }
        for choice in response.choices
    ]
    chunk = ChatCompletionChunk.model_validate(
        {
            "id": response.id,
            "object": "chat.completion.chunk",
            "created": response.created,
            "model": response.model,
            "choices": choices,
            "usage": None if response.usage is None else response.usage.model_dump(),
        }
    )
    return [chunk]


def _without_streaming(
    view: LiveView, client: openai.OpenAI, model: str, messages: list[ChatCompletionMessageParam]
) -> None:
    with view:
        response = client.chat.completions.create(model=model, messages=messages)
        for _ in view.follow(whole_answer(response)):
            pass


def race(
    client: openai.OpenAI, model: str, messages: list[ChatCompletionMessageParam]
) -> tuple[LiveView, LiveView]:
    """Send `messages` twice at the same moment, without streaming (left view) and with it
    (right view), and show each answer as it arrives; returns the two views.

    The blocking request waits in a thread of its own while this one follows the stream, so
    the cell needs no `async`. Notebook 06 shows how to run requests together yourself.
    """
    left, right = LiveView(title="stream=False"), LiveView(title="stream=True")
    show(side_by_side(left, right))
    blocking = threading.Thread(
        target=_without_streaming, args=(left, client, model, messages), daemon=True
    )
    blocking.start()
    with (
        right,
        client.chat.completions.create(model=model, messages=messages, stream=True) as stream,
    ):
        for _ in right.follow(stream):
            pass
    blocking.join()
    return left, right
