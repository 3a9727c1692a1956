"""The harness's one base exception; the CLI turns it into one line and an exit code."""

from __future__ import annotations


class RehearseError(Exception):
    """Something the user can fix: the message names what failed, the bad value and the fix."""

    exit_code = 1


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
