"""``python -m gatepass`` runs the command line."""

from .cli import entrypoint

entrypoint()
