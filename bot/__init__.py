"""``lrmf-bot``: posts predicted benchmark scores of new Hub models, once per repo, politely.

Installed as the package ``lrmf_bot`` (extra ``bot``). It only calls the library
(:mod:`lrmf_plugin`): lineage and metadata from :mod:`lrmf_plugin.hub`, predictions from
:class:`lrmf_plugin.api.Lrmf`, the prediction log from :mod:`lrmf_plugin.track_record`.
"""
