"""The odds of a mixed field (the chat template): the parents' children, then the owner's own models."""
from __future__ import annotations

import pandas as pd

from lrmf_plugin.lineage import LineageGraph
from lrmf_plugin.resolution import ModelRequest, ModelResolver
from lrmf_plugin.schema import Edge


def _resolver() -> ModelResolver:
    """A base whose 20 fine-tunes split 50/50 on the chat template; the owner ``acme`` always ships one."""
    rows = {"base/b": {"chat_template": False, "params_b": 7.0, "architecture": "A", "model_type": "pretrained"}}
    edges = []
    for i in range(20):
        child = f"org{i}/ft"
        rows[child] = {"chat_template": i % 2 == 0, "params_b": 7.0, "architecture": "A", "model_type": "fine-tuned"}
        edges.append(Edge("base/b", child, "finetune"))
    for i in range(6):
        rows[f"acme/m{i}"] = {"chat_template": True, "params_b": 3.0, "architecture": "B", "model_type": "fine-tuned"}
    metadata = pd.DataFrame.from_dict(rows, orient="index")
    return ModelResolver(metadata, pd.DataFrame(index=metadata.index), LineageGraph(edges))


def _odds(resolved) -> dict:
    options = resolved.query.metadata_options
    return {extra["chat_template"]: w for w, extra in options} if options else \
        {resolved.query.metadata.get("chat_template"): 1.0}


def test_a_stranger_fine_tune_takes_the_parents_childrens_odds():
    resolved = _resolver().resolve(ModelRequest("nobody/ft", parents=[("base/b", "finetune")]))
    assert abs(_odds(resolved)[True] - 0.5) < 1e-9
    assert "children of base/b" in resolved.sources["chat_template"]


def test_the_owners_own_models_move_the_odds_towards_what_the_owner_ships():
    resolver = _resolver()
    resolved = resolver.resolve(ModelRequest("acme/ft", parents=[("base/b", "finetune")]))
    odds = _odds(resolved)
    assert odds[True] > 0.8  # six of six acme models have one, against the children's even split
    assert "models of acme" in resolved.sources["chat_template"]
    # with no parent at all, the owner's models still say something
    alone = resolver.resolve(ModelRequest("acme/new"))
    assert _odds(alone)[True] > 0.8
    assert "chat_template" not in resolver.resolve(ModelRequest("nobody/new")).query.metadata
