from ..base import make_command

Command = make_command("Activate a deactivated key.", ["keys", "activate"])
