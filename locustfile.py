"""Locust entry point for QA: `locust -f locustfile.py --host http://127.0.0.1:8700`.

One user class per persona, weighted by the scenario's mix; the load follows the scenario's
arrival curve (see swarm/locustfile.py for the options). `rehearse swarm` runs this same file.
"""

from swarm.locustfile import (  # noqa: F401  (Locust finds the classes in this module)
    CampaignShape,
    FraudScriptUser,
    NormalUser,
    PreheatBrowserUser,
    SharerUser,
)
