"""The predictive-maintenance scenario behind ``loopml demo``: a sensor generator, the
training and retraining pipelines, and the narrated closed loop."""

__all__: list[str] = []  # a namespace: import the modules
