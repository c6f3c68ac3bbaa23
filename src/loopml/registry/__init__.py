"""Model registry services shared by the server, the client and the CLI: source confinement
(``sources``) and model URI resolution (``uris``)."""

__all__: list[str] = []  # a namespace: import the modules
