from .... import cli
from ..base import make_command

Command = make_command("List API keys.", cli.add_list_arguments, cli.run_list)
