"""loopml.artifacts"""
