"""The harness's client of a campaign backend, shared by the engines that send to one (the swarm,
the walkthrough, the drills): the target contract (`contract.py`: how each step becomes a request
and its answer an outcome), the journey player (`player.py`), and the transport seam every
request passes (`http.py`, `safety.py`: loopback or the allow-list, after templates are filled)."""
