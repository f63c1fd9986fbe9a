"""The metadata featuriser: every canonical field becomes features, missing values are flagged."""
from __future__ import annotations

import numpy as np
import pandas as pd

from lrmf_plugin.features import MetadataFeaturizer
from lrmf_plugin.metadata import normalise_metadata


def _frame(rows: dict[str, dict]) -> pd.DataFrame:
    return pd.DataFrame.from_dict({m: normalise_metadata(r) for m, r in rows.items()}, orient="index")


def test_leaderboard_card_facts_become_features():
    rows = {f"org{k % 3}/model-{k}": {"metadata_hub_hearts": str(k * 10), "metadata_hub_license": ["MIT", "apache-2.0"][k % 2],
                                      "metadata_generation": str(k % 3), "features_is_official_provider": str(k % 2 == 0),
                                      "model_weight_type": "Original", "metadata_submission_date": f"2024-0{1 + k % 9}-01"}
            for k in range(20)}
    meta = _frame(rows)
    fz = MetadataFeaturizer(min_count=2).fit(meta)
    X = pd.DataFrame(fz.transform(meta), index=meta.index, columns=fz.names_)
    for name in ("log_likes", "generation", "submission_years", "official", "license=mit", "license=apache-2.0",
                 "weight_type=original"):
        assert name in X.columns
    assert X["log_likes"].is_monotonic_increasing  # likes grow with k, and so does log1p
    assert np.corrcoef(X["generation"], [k % 3 for k in range(20)])[0, 1] > 0.99
    assert (X["license=mit"] != X["license=apache-2.0"]).all()

    # a model with none of these facts gets the fitted means and the "missing" flags
    bare = fz.transform([{}], ["new/model"])
    row = dict(zip(fz.names_, bare[0]))
    assert row["log_likes"] == 0.0 and row["likes_missing"] > 0 and row["generation_missing"] > 0
    assert row["license=missing"] > 0
