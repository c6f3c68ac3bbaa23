"""Hyperparameter tuning on Optuna's samplers and pruners. See docs/tuning.md.

    from loopml.tuning import tune, loguniform, randint

    def objective(trial):
        model = fit(lr=trial["lr"], depth=trial["depth"])
        trial.log_model(model)
        return validation_loss(model)

    result = tune(objective, {"lr": loguniform(1e-3, 0.3), "depth": randint(2, 8)},
                  n_trials=50, sampler="tpe", pruner="median", parallelism=4,
                  executor="process")
    result.register_best("churn")
"""

from optuna import TrialPruned

from loopml.tuning._space import choice, loguniform, randint, uniform
from loopml.tuning._trial import Trial
from loopml.tuning._tune import TrialResult, TuneResult, tune

__all__ = ["Trial", "TrialPruned", "TrialResult", "TuneResult", "choice", "loguniform",
           "randint", "tune", "uniform"]
