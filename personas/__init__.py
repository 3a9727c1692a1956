"""Personas: user archetypes written once as generators of abstract steps (contract 1)."""
