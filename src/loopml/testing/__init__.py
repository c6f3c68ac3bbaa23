"""loopml.testing"""
