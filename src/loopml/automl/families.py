"""Model families for the AutoML search: a search space (Optuna define-by-run) and a builder
per family, each returning an estimator that takes the raw feature frame.

| family | model | input handling |
|---|---|---|
| ``linear`` | LogisticRegression / Ridge | median impute + scale; categories one-hot |
| ``random_forest`` | RandomForest / ExtraTrees | median impute; categories as ordinal codes |
| ``hist_gb`` | HistGradientBoosting | NaN native; categories as ordinal codes |
| ``lightgbm`` | LGBMClassifier / LGBMRegressor | numeric features only (native format) |
| ``xgboost`` | XGBClassifier / XGBRegressor | numeric features, integer labels 0..K-1 |
| ``mlp`` | MLPClassifier / MLPRegressor (small) | median impute + scale; one-hot |

scikit-learn families are wrapped in a ``Pipeline(ColumnTransformer, estimator)``, which
loopml stores with skops under its allow-list (no pickle); LightGBM and XGBoost are stored
in their native formats. Only scikit-learn families become ensemble members, so that an
ensemble (a ``VotingClassifier``/``VotingRegressor``) also loads without trust.
"""

from __future__ import annotations

from typing import Any

FAMILIES = ("linear", "random_forest", "hist_gb", "lightgbm", "xgboost", "mlp")
SKLEARN_FAMILIES = ("linear", "random_forest", "hist_gb", "mlp")

# A first trial per family with settings that are good on most tabular data: the search
# starts from these, then TPE explores.
DEFAULTS: dict[str, dict[str, Any]] = {
    "hist_gb": {"hgb_lr": 0.1, "hgb_leaves": 31, "hgb_iter": 200, "hgb_l2": 1e-3,
                "hgb_min_leaf": 20},
    "lightgbm": {"lgb_lr": 0.05, "lgb_leaves": 31, "lgb_n": 300, "lgb_min_child": 20,
                 "lgb_colsample": 0.8, "lgb_subsample": 1.0, "lgb_reg_lambda": 1e-3},
    "random_forest": {"rf_extra": False, "rf_n": 200, "rf_max_features": 0.5,
                      "rf_min_leaf": 1},
    "linear": {"lin_c": 1.0},
    "xgboost": {"xgb_lr": 0.1, "xgb_depth": 6, "xgb_n": 300, "xgb_colsample": 0.8,
                "xgb_min_child": 1.0},
    "mlp": {"mlp_width": 64, "mlp_depth": 1, "mlp_alpha": 1e-4, "mlp_lr": 1e-3},
}


def available(report: dict[str, Any], families: tuple[str, ...] = FAMILIES) -> list[str]:
    """The families that apply to the data in ``report`` (see the module table)."""
    out = []
    cls = report["task"] != "regression"
    classes = report.get("classes") or []
    int_labels = not cls or classes == list(range(len(classes)))
    for f in families:
        if f in ("lightgbm", "xgboost") and report["categorical"]:
            continue
        if f == "xgboost" and not int_labels:
            continue
        out.append(f)
    return out


def suggest(trial: Any, family: str) -> dict[str, Any]:
    """Sample ``family``'s parameters on an Optuna trial (names prefixed by family)."""
    t = trial
    if family == "hist_gb":
        return {"hgb_lr": t.suggest_float("hgb_lr", 0.01, 0.3, log=True),
                "hgb_leaves": t.suggest_int("hgb_leaves", 8, 128, log=True),
                "hgb_iter": t.suggest_int("hgb_iter", 50, 500, log=True),
                "hgb_l2": t.suggest_float("hgb_l2", 1e-4, 10.0, log=True),
                "hgb_min_leaf": t.suggest_int("hgb_min_leaf", 2, 60, log=True)}
    if family == "lightgbm":
        return {"lgb_lr": t.suggest_float("lgb_lr", 0.01, 0.3, log=True),
                "lgb_leaves": t.suggest_int("lgb_leaves", 4, 128, log=True),
                "lgb_n": t.suggest_int("lgb_n", 50, 800, log=True),
                "lgb_min_child": t.suggest_int("lgb_min_child", 2, 60, log=True),
                "lgb_colsample": t.suggest_float("lgb_colsample", 0.3, 1.0),
                "lgb_subsample": t.suggest_float("lgb_subsample", 0.5, 1.0),
                "lgb_reg_lambda": t.suggest_float("lgb_reg_lambda", 1e-4, 10.0, log=True)}
    if family == "random_forest":
        return {"rf_extra": t.suggest_categorical("rf_extra", [False, True]),
                "rf_n": t.suggest_int("rf_n", 50, 400, log=True),
                "rf_max_features": t.suggest_float("rf_max_features", 0.1, 1.0),
                "rf_min_leaf": t.suggest_int("rf_min_leaf", 1, 10)}
    if family == "linear":
        return {"lin_c": t.suggest_float("lin_c", 1e-3, 100.0, log=True)}
    if family == "xgboost":
        return {"xgb_lr": t.suggest_float("xgb_lr", 0.01, 0.3, log=True),
                "xgb_depth": t.suggest_int("xgb_depth", 2, 10),
                "xgb_n": t.suggest_int("xgb_n", 50, 800, log=True),
                "xgb_colsample": t.suggest_float("xgb_colsample", 0.3, 1.0),
                "xgb_min_child": t.suggest_float("xgb_min_child", 0.5, 20.0, log=True)}
    if family == "mlp":
        return {"mlp_width": t.suggest_int("mlp_width", 16, 256, log=True),
                "mlp_depth": t.suggest_int("mlp_depth", 1, 3),
                "mlp_alpha": t.suggest_float("mlp_alpha", 1e-6, 1e-1, log=True),
                "mlp_lr": t.suggest_float("mlp_lr", 1e-4, 1e-2, log=True)}
    raise ValueError(f"unknown family {family!r}")


def _prep(report: dict[str, Any], scale: bool) -> Any:
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler

    parts: list[tuple[str, Any, list[str]]] = []
    if report["numeric"]:
        num: Any = SimpleImputer(strategy="median", keep_empty_features=True)
        if scale:
            num = Pipeline([("impute", num), ("scale", StandardScaler())])
        parts.append(("num", num, list(report["numeric"])))
    if report["categorical"]:
        cat: Any = (OneHotEncoder(handle_unknown="infrequent_if_exist", max_categories=30,
                                  sparse_output=False) if scale else
                    OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                   encoded_missing_value=-1))
        if scale:  # one-hot needs strings without NaN
            cat = Pipeline([("fill", SimpleImputer(strategy="constant", fill_value="missing")),
                            ("onehot", cat)])
        parts.append(("cat", cat, list(report["categorical"])))
    return ColumnTransformer(parts, remainder="drop", verbose_feature_names_out=False)


def build(family: str, params: dict[str, Any], report: dict[str, Any], *, seed: int = 0,
          n_jobs: int = 1) -> Any:
    """An unfitted estimator for ``family`` with ``params`` (as ``suggest`` returns them)."""
    from sklearn.pipeline import Pipeline

    cls = report["task"] != "regression"
    weight = "balanced" if report.get("imbalanced") else None
    p = params
    if family == "lightgbm":
        import lightgbm as lgb

        kw = dict(learning_rate=p["lgb_lr"], num_leaves=p["lgb_leaves"],
                  n_estimators=p["lgb_n"], min_child_samples=p["lgb_min_child"],
                  colsample_bytree=p["lgb_colsample"], subsample=p["lgb_subsample"],
                  subsample_freq=1 if p["lgb_subsample"] < 1 else 0,
                  reg_lambda=p["lgb_reg_lambda"], random_state=seed, n_jobs=n_jobs, verbose=-1)
        return lgb.LGBMClassifier(class_weight=weight, **kw) if cls else lgb.LGBMRegressor(**kw)
    if family == "xgboost":
        import xgboost as xgb

        kw = dict(learning_rate=p["xgb_lr"], max_depth=p["xgb_depth"], n_estimators=p["xgb_n"],
                  colsample_bytree=p["xgb_colsample"], min_child_weight=p["xgb_min_child"],
                  random_state=seed, n_jobs=n_jobs, tree_method="hist")
        return xgb.XGBClassifier(**kw) if cls else xgb.XGBRegressor(**kw)
    scale = family in ("linear", "mlp")
    est = _sk_estimator(family, p, cls, weight, seed, n_jobs)
    return Pipeline([("prep", _prep(report, scale)), ("model", est)])


def _sk_estimator(family: str, p: dict[str, Any], cls: bool, weight: str | None, seed: int,
                  n_jobs: int) -> Any:
    if family == "hist_gb":
        from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

        kw = dict(learning_rate=p["hgb_lr"], max_leaf_nodes=p["hgb_leaves"],
                  max_iter=p["hgb_iter"], l2_regularization=p["hgb_l2"],
                  min_samples_leaf=p["hgb_min_leaf"], random_state=seed)
        return (HistGradientBoostingClassifier(class_weight=weight, **kw) if cls
                else HistGradientBoostingRegressor(**kw))
    if family == "random_forest":
        from sklearn import ensemble as e

        kw = dict(n_estimators=p["rf_n"], max_features=p["rf_max_features"],
                  min_samples_leaf=p["rf_min_leaf"], random_state=seed, n_jobs=n_jobs)
        if cls:
            rf_cls = e.ExtraTreesClassifier if p["rf_extra"] else e.RandomForestClassifier
            return rf_cls(class_weight=weight, **kw)
        return (e.ExtraTreesRegressor if p["rf_extra"] else e.RandomForestRegressor)(**kw)
    if family == "linear":
        from sklearn.linear_model import LogisticRegression, Ridge

        return (LogisticRegression(C=p["lin_c"], max_iter=2000, class_weight=weight) if cls
                else Ridge(alpha=1.0 / p["lin_c"]))
    if family == "mlp":
        from sklearn.neural_network import MLPClassifier, MLPRegressor

        kw = dict(hidden_layer_sizes=(p["mlp_width"],) * p["mlp_depth"], alpha=p["mlp_alpha"],
                  learning_rate_init=p["mlp_lr"], max_iter=300, early_stopping=True,
                  n_iter_no_change=10, random_state=seed)
        return MLPClassifier(**kw) if cls else MLPRegressor(**kw)
    raise ValueError(f"unknown family {family!r}")


__all__ = ["DEFAULTS", "FAMILIES", "SKLEARN_FAMILIES", "available", "build", "suggest"]
