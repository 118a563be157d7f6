"""Runs the project on 127.0.0.1 (a free port): migrates a fresh database,
creates the users, prints ``listening on http://…`` and serves until killed."""

import os
import sys
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "djangomanage.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.contrib.auth.models import Permission  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.core.management import call_command  # noqa: E402


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def main() -> None:
    call_command("migrate", verbosity=0, interactive=False)
    users = get_user_model()
    for name in ("alice", "bob"):
        users.objects.create_user(name, password="unused-in-tests")
    users.objects.create_user("ann", password="unused-in-tests", is_staff=True).user_permissions.add(
        Permission.objects.get(codename="manage_api_tokens")
    )
    users.objects.create_user("sam", password="unused-in-tests", is_staff=True)  # staff without the permission
    server = make_server("127.0.0.1", 0, WSGIHandler(), server_class=Server, handler_class=Quiet)
    print(f"listening on http://127.0.0.1:{server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
