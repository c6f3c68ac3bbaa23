"""Model registry services shared by the server, the client and the CLI: source confinement
(``sources``) and model URI resolution (``uris``)."""
