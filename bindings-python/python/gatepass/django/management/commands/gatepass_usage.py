from ..base import make_command

Command = make_command("Show a key's request history as a chart.", ["usage"])
