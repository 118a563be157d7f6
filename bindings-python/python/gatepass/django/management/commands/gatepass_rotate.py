from ..base import make_command

Command = make_command("Rotate a key's secret (prints the new token once).", ["keys", "rotate"])
