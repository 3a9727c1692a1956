"""The harness's one base exception; the CLI turns it into one line and an exit code."""

from __future__ import annotations

import re

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


class RehearseError(Exception):
    """Something the user can fix: the message names what failed, the bad value and the fix.
    The message is one line: a line break or other control character a value brought into it
    (a key in a --set, a file name) is shown escaped, as \\n."""

    exit_code = 1

    def __init__(self, message: object = "", *args: object) -> None:
        text = str(message)
        if _UNPRINTABLE.search(text):
            text = _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode(), text)
        super().__init__(text, *args)


class ScenarioError(RehearseError):
    """A scenario file (or an override of one) that does not parse or does not validate."""

    exit_code = 2


class Interrupted(RehearseError):
    """A stop signal (Ctrl-C, SIGTERM, SIGHUP) ended a command; what it measured was kept."""

    exit_code = 130


class UsageError(RehearseError):
    """A command-line value that cannot be used as given."""

    exit_code = 2


class RunInterrupted(RehearseError):
    """A run the harness itself could not finish (its rows could not be written, a load process
    died): what it measured is kept and marked interrupted; the message says where. Not the
    target's failure and not bad input: exit code 4."""

    exit_code = 4
