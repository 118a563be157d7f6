from ..base import make_command

Command = make_command("Issue an API key (prints the token once).", ["keys", "issue"])
