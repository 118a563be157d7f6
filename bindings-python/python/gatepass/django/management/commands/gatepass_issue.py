from .... import cli
from ..base import make_command

Command = make_command("Issue an API key (prints the token once).", cli.add_issue_arguments, cli.run_issue)
