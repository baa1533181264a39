"""How much work one request may cause: the bounds that keep a shared server serving everyone.

A real model is bounded by its context and its output limit; the simulation is bounded the same
way, and further wherever one short request could otherwise ask for a lot (repeat this a
thousand times, count to a number with five thousand digits, many choices of a long reply).
Each bound answers with text or a 400 in OpenAI's format, never an exception.
"""

from __future__ import annotations

__all__ = [
    "MAX_COMPLETION_TOKENS",
    "MAX_COUNT",
    "MAX_ECHO_CHARS",
    "MAX_NUMBER_DIGITS",
    "MAX_REPEATS",
    "MAX_REPLY_CHARS",
    "MAX_REQUEST_TOKENS",
    "MAX_RULE_CHARS",
]

MAX_COMPLETION_TOKENS = 16_384
"""gpt-4o-mini's output limit: the most one choice may produce, and the limit of a reply whose
request names none."""
MAX_REQUEST_TOKENS = 32_768
"""The most tokens one request may produce over all its choices (`n` times its limit)."""
MAX_RULE_CHARS = 4_096
"""How much of the last user message the simulated model reads to pick its rule."""
MAX_ECHO_CHARS = 2_000
"""The longest text "say ..." repeats."""
MAX_REPEATS = 1_000
"""The most times "say ... N times" repeats its text."""
MAX_REPLY_CHARS = 65_536
"""The longest reply text the simulated model writes for one choice."""
MAX_COUNT = 10_000
"""The most numbers "count to N" says."""
MAX_NUMBER_DIGITS = 15
"""The longest number the simulated model counts to or calculates with, in digits."""
