"""The reference: an on-disk store of everything known about existing models.

Layout of a reference directory::

    DIR/reference.sqlite      sources, models + metadata, benchmark scores, lineage edges, benchmarks
    DIR/items/<source_id>.npz item observation blocks (compact: bit-packed 0/1 or uint8), one per source
    DIR/predictor/            fitted predictor artifacts (see lrmf_plugin.models.lrmf)

CONTRACT (implemented by the foundation work; every face relies on these signatures):

- ``Reference(path)`` opens an existing reference (``ReferenceStoreError`` if absent/invalid);
  ``Reference.create(path)`` opens or creates one.
- ``import_source(kind, path, **options) -> ImportReport``: atomic, a re-import of the same source
  replaces it; kinds: ``leaderboard-v2``, ``leaderboard-v1``, ``responses`` (``benchmark=``),
  ``lineage``, ``lm-eval-output``.
- reads: ``models()``, ``benchmarks() -> dict[str, BenchmarkInfo]``, ``scores() -> DataFrame``
  (long: model, benchmark, score), ``edges() -> list[Edge]``, ``metadata() -> DataFrame`` (index
  model, canonical METADATA_FIELDS columns), ``item_block(benchmark) -> (list[str] models, ItemBlock)``,
  ``lineage() -> LineageGraph``, ``load_data() -> ReferenceData``, ``fingerprint() -> str``,
  ``summary() -> ReferenceSummary``, ``sources() -> list[SourceInfo]``.
- ``predictor_dir`` -> Path where fitted predictors are stored.
"""
