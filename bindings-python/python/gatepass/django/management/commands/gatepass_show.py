from .... import cli
from ..base import make_command

Command = make_command("Show one API key.", cli.add_id_argument, cli._run_key_action("show"))
