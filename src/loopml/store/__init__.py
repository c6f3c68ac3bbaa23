"""loopml.store"""
