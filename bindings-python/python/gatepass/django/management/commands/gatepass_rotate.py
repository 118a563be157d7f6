from .... import cli
from ..base import make_command

Command = make_command("Rotate a key's secret (prints the new token once).", cli.add_rotate_arguments, cli.run_rotate)
