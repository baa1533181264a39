"""The lessons' exercises: the checking framework, made-up inputs, and one module per lesson."""

from helpers.exercises.lesson01 import check_is_cut_off, check_reply_text
from helpers.exercises.lesson02 import check_join_deltas
from helpers.exercises.lesson03 import check_time_to_first_token
from helpers.exercises.lesson04 import check_converse, check_text_and_usage
from helpers.exercises.lesson05 import check_pieces_until_blocked
from helpers.exercises.lesson06 import check_finished_texts
from helpers.exercises.lesson07 import check_response_text_and_usage

__all__ = [
    "check_converse",
    "check_finished_texts",
    "check_is_cut_off",
    "check_join_deltas",
    "check_pieces_until_blocked",
    "check_reply_text",
    "check_response_text_and_usage",
    "check_text_and_usage",
    "check_time_to_first_token",
]
