from ..base import make_command

Command = make_command("Delete a key.", ["keys", "delete"])
