from .... import cli
from ..base import make_command

Command = make_command("Revoke a key (one-way, immediate).", cli.add_id_argument, cli._run_key_action("revoke"))
