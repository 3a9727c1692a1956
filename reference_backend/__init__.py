"""The reference campaign backend: a small, real implementation of the brief's campaign to rehearse against."""
