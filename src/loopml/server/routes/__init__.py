"""loopml.server.routes"""
