"""The live engine: the target contract client and, on top of it, the Locust swarm."""
