#!/usr/bin/env python
"""A small Platform API protected by gatepass, in Django.

Run it (one command; keys live in ./gatepass.db unless $GATEPASS_STORE says otherwise):

    python examples/django/manage.py runserver

Then:

    python examples/django/manage.py gatepass_issue "Demo" --scope bots:read
    curl -H "Authorization: Bearer <token>" http://127.0.0.1:8000/v1/bots
"""

import os
import sys
from pathlib import Path

if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "botapi.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
