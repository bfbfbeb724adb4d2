"""Pure logic that runs on the user's machine, whichever registry is behind (in-process or a server).

Both the service and the HTTP client use it, so neither has to reach into the other: collecting the files
to register (``sources``), checking version metadata (``fields``), staging pulls (``pulls``), cache folders
(``cache``), export options and file names (``export_options``, ``export_names``), repairing a blob store
from a folder (``repair``) and what a training run does on either side of the wire (``runs``).

Nothing here imports the service, the server, the CLI or a client (a test checks it).
"""
