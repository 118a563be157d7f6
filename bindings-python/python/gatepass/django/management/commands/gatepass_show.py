from ..base import make_command

Command = make_command("Show one API key.", ["keys", "show"])
