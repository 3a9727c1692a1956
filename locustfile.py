"""Locust entry point for QA: `locust -f locustfile.py --host http://127.0.0.1:8700`.

Participants arrive as the scenario's arrival curve says (an open model) and Locust users are
slots that play them; the shape adds slots as the window needs them (see
`rehearse.swarm.locustfile`, swarm/locustfile.py in the repository, for the options).
`rehearse swarm` runs that module's file. Copy this file into a QA repository to run plain
Locust there: it needs only `pip install rehearse`.
"""

from rehearse.swarm.locustfile import (  # noqa: F401  (Locust finds the classes in this module)
    CampaignShape,
    ParticipantSlot,
)
