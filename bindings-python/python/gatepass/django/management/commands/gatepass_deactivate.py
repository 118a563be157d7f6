from ..base import make_command

Command = make_command("Deactivate a key (reversible).", ["keys", "deactivate"])
