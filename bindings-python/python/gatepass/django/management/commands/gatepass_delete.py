from .... import cli
from ..base import make_command

Command = make_command("Delete a key.", cli.add_id_argument, cli.run_delete)
