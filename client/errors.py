"""The target contract's error: a mapping that cannot give a request for an action."""

from __future__ import annotations

from rehearse.scenarios.errors import RehearseError


class ContractError(RehearseError):
    """The mapping cannot produce a request for this action (missing value, bad adapter)."""

    exit_code = 2
