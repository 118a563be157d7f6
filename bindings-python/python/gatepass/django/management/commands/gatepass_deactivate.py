from .... import cli
from ..base import make_command

Command = make_command("Deactivate a key (reversible).", cli.add_id_argument, cli._run_key_action("deactivate"))
