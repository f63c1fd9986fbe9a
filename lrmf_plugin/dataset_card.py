"""The dataset card (``README.md``) of a published fitted reference: what it holds and where from."""
from __future__ import annotations

from typing import Any


def dataset_card(manifest: dict[str, Any], manifest_name: str, repo: str) -> str:
    """The repo's README.md: a YAML header for the Hub, then what the artifact holds and where from."""
    ref, tool = manifest["reference"], manifest["tool"]
    rows = "\n".join(f"| `{s['kind']}` | {s['location']} | {s['imported_at']} | {s['models']} | {s['scores']} | "
                     f"{s['edges']} | {s['observations']} |" for s in ref["sources"])
    files = "\n".join(f"| `{f['path']}` | {f['size']} | `{f['sha256']}` |" for f in manifest["files"])
    return f"""---
pretty_name: lrmf-plugin fitted reference
tags:
- lrmf-plugin
- llm-evaluation
- benchmark-prediction
viewer: false
---
# lrmf-plugin fitted reference

A fitted reference for lrmf-plugin (`lm-eval-predict`): what is known
about {ref['models']} existing models (benchmark scores, per-item results, lineage, metadata) and the
predictor fitted on it, so predictions need no fit. Benchmarks: {', '.join(ref['benchmarks'])}.

```bash
lm-eval-predict reference pull --fitted {repo} --ref DIR   # verifies every checksum, then installs
```

- artifact format `{manifest['format']}` version {manifest['format_version']}, written by
  {tool['name']} {tool['version']} on {manifest['created_at']}
- reference fingerprint `{ref['fingerprint']}` (store `{ref['store_format']}` version {ref['store_version']}),
  predictor `{manifest['predictor']['format']}` version {manifest['predictor']['version']}

## Where the data came from

Each source was imported into the reference as it is listed here; the data keeps the licences of
its sources.

| kind | location | imported | models | scores | edges | item results |
|---|---|---|---|---|---|---|
{rows}

## Files

`{manifest_name}` lists every file with its size and SHA-256; a pull refuses any mismatch.

| file | bytes | SHA-256 |
|---|---|---|
{files}
"""
