"""Training the models from the stored history, and registering what was trained."""
from __future__ import annotations

import dataclasses
import datetime as dt
import platform
import subprocess
import time
from importlib import metadata as package_metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import pandas as pd

from promo.adapters import training_data
from promo.adapters.model_store import ModelStore
from promo.domain.errors import InvalidInput
from promo.services.model_server import BUILDERS, RECOMMENDER, RESPONSE

if TYPE_CHECKING:
    from promo.bootstrap import Runtime

MODEL_NAMES = (RECOMMENDER, RESPONSE)
LIBRARIES = ("numpy", "scipy", "pandas", "scikit-learn")


@dataclasses.dataclass(frozen=True)
class TrainingData:
    history: pd.DataFrame
    products: pd.DataFrame
    customers: pd.DataFrame
    campaigns: pd.DataFrame
    campaign_products: pd.DataFrame
    exposures: pd.DataFrame
    redemptions: pd.DataFrame

    @property
    def data_until(self) -> pd.Timestamp | None:
        return self.history["occurred_at"].max() if len(self.history) else None


@dataclasses.dataclass(frozen=True)
class TrainedModel:
    name: str
    version: str
    seconds: float
    metadata: dict[str, Any]
    activated: bool


def load_training_data(runtime: "Runtime", until: dt.datetime | None = None) -> TrainingData:
    """The whole history (or what happened before ``until``) as model frames."""
    with runtime.unit_of_work() as uow:
        session = uow.session
        return TrainingData(
            history=training_data.read_history(session, until),
            products=training_data.read_products(session),
            customers=training_data.read_customers(session),
            **training_data.read_campaign_history(session),
        )


def code_revision() -> str:
    """The git commit the code runs from, or the package version outside a checkout."""
    try:
        found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=5,
                               cwd=Path(__file__).resolve().parent)
        if found.returncode == 0 and found.stdout.strip():
            return found.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return f"promo {package_metadata.version('promo')}"


def _environment() -> dict[str, Any]:
    return {"python": platform.python_version(),
            "libraries": {name: package_metadata.version(name) for name in LIBRARIES}}


def _window(data: TrainingData) -> dict[str, Any]:
    history = data.history
    return {"from": str(history["occurred_at"].min()) if len(history) else None,
            "until": str(data.data_until) if len(history) else None}


def fit_recommender(data: TrainingData, **params: Any) -> tuple[Any, dict[str, Any]]:
    from promo.ml.recommender import Recommender

    if not len(data.history):
        raise InvalidInput("no interactions to learn from; load some first", {"history": ["empty"]})
    model = Recommender(**params).fit(data.history, data.products)
    facts = {"rows": {"interactions": len(data.history), "customers": int(data.history["customer"].nunique()),
                      "products": int(data.history["product"].nunique())},
             "evaluation": {"repeat_recall_at_10_on_the_latest_week": model.repeat_validation_,
                            "full": "promo evaluate (docs/personalisation.md)"}}
    return model, facts


def learnable_campaigns(data: TrainingData) -> list[int]:
    """Campaigns whose whole window lies inside the history, with an audience: their
    features and outcome are both known."""
    from promo.ml.response_features import campaigns_within

    if data.data_until is None:
        return []
    inside = campaigns_within(data.campaigns, data.history["occurred_at"].min(), data.data_until)
    has_audience = set(data.exposures["campaign"])
    return [campaign for campaign in inside if campaign in has_audience]


def fit_response(data: TrainingData, **params: Any) -> tuple[Any, dict[str, Any]]:
    from promo.ml.response import ResponseModel
    from promo.ml.response_features import training_table

    campaigns = learnable_campaigns(data)
    if not campaigns:
        raise InvalidInput("no ended campaign with an audience to learn from",
                           {"campaigns": ["import campaign history first (the demo loader does)"]})
    X, y, treatment, campaign_of_row = training_table(data.history, data.products, data.customers, data.campaigns,
                                        data.campaign_products, data.exposures, data.redemptions,
                                        campaign_ids=campaigns, until=data.data_until)
    starts = data.campaigns.set_index("campaign")["starts_at"].reindex(campaign_of_row).to_numpy()
    model = ResponseModel(**params).fit(X, y, treatment, order=starts)
    facts = {"rows": {"exposures": int(len(y)), "redeemed": int(sum(y)), "campaigns": len(campaigns),
                      "holdout": int(len(y) - sum(treatment))}, "uplift": bool(model.has_uplift_),
             "evaluation": {"latest_campaigns_scored_by_a_model_of_the_earlier_ones": model.calibration_report_,
                            "full": "promo evaluate (docs/personalisation.md)"}}
    return model, facts


FITTERS: dict[str, Callable[..., tuple[Any, dict[str, Any]]]] = {RECOMMENDER: fit_recommender, RESPONSE: fit_response}


def train(runtime: "Runtime", names: Sequence[str] = MODEL_NAMES, *, activate: bool = True,
          until: dt.datetime | None = None, data: TrainingData | None = None) -> list[TrainedModel]:
    """Fit each named model on the stored history, save it as a new version and (by
    default) make it the active one, which every running process then picks up."""
    unknown = sorted(set(names) - set(FITTERS))
    if unknown:
        raise InvalidInput("unknown model", {"models": [f"unknown {unknown}; known: {list(FITTERS)}"]})
    store = ModelStore(runtime.settings.model_dir)
    if data is None:
        data = load_training_data(runtime, until)
    trained = []
    for name in names:
        started = time.perf_counter()
        model, facts = FITTERS[name](data)
        seconds = time.perf_counter() - started
        arrays, params = model.to_arrays()
        version = store.new_version(name)
        metadata = {"trained_at": dt.datetime.now(dt.timezone.utc).isoformat(), "training_window": _window(data),
                    "fit_seconds": round(seconds, 2), "params": model.get_params(), "code_revision": code_revision(),
                    **_environment(), **facts}
        store.save(name, version, arrays, params, metadata)
        BUILDERS[name](store.load(name, version))   # refuse to activate what cannot be served
        if activate:
            activate_version(runtime, name, version)
        trained.append(TrainedModel(name, version, seconds, store.metadata(name, version), activate))
    return trained


def activate_version(runtime: "Runtime", name: str, version: str) -> None:
    """Make ``version`` the one every process serves (within model_check_interval_ms)."""
    store = ModelStore(runtime.settings.model_dir)
    if name not in BUILDERS:
        raise InvalidInput("unknown model", {"name": [f"one of {', '.join(BUILDERS)}"]})
    if version not in store.versions(name):
        raise InvalidInput("no such version", {"version": [f"{name} has no version {version!r} in "
                                                           f"{runtime.settings.model_dir}"]})
    with runtime.unit_of_work(write=True) as uow:
        uow.active_models.activate(name, version)
        uow.commit()


def list_models(runtime: "Runtime") -> list[dict[str, Any]]:
    """Every stored version of every model, with whether it is the active one."""
    store = ModelStore(runtime.settings.model_dir)
    with runtime.unit_of_work() as uow:
        active = uow.active_models.all()
    listed = []
    for name in sorted(set(store.names()) | set(active)):
        for version in store.versions(name):
            meta = store.metadata(name, version)
            listed.append({"name": name, "version": version, "active": active.get(name) == version,
                           "trained_at": meta.get("trained_at"), "window": meta.get("training_window"),
                           "rows": meta.get("rows"), "fit_seconds": meta.get("fit_seconds")})
        if name in active and active[name] not in store.versions(name):
            listed.append({"name": name, "version": active[name], "active": True, "missing": True})
    return listed
