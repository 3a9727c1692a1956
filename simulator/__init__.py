"""The SimPy campaign simulator: the whole campaign in campaign time, in seconds of wall time."""
