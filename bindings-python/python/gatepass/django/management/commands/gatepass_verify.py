from .... import cli
from ..base import make_command

Command = make_command("Verify a token or Authorization value.", cli.add_verify_arguments, cli.run_verify)
