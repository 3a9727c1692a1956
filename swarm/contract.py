"""Moved to `rehearse.client.contract` (the target contract client the engines share); this name
stays for adapters written against it (`from rehearse.swarm.contract import DeclarativeContract`)."""

from rehearse.client.contract import *  # noqa: F401,F403
from rehearse.client.templates import remember  # noqa: F401,E402  (it lived in the contract module)
