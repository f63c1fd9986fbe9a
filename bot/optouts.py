"""Stop requests: who may opt a namespace out, what counts as asking, and the one acknowledgement.

The Hub is the record of an opt-out, not only the local state file: before the bot opens a thread
in a namespace it re-reads its own threads there (open and closed), so a lost state file cannot
undo a "stop". Only the namespace itself (a user's own account) or, for an organisation, its
members may opt the namespace out; anyone else's "stop" is counted and ignored.
"""
from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Any

from lrmf_plugin.errors import HubForbidden, HubNotFound

from .session import HubSession
from .state import iso, parse_iso

log = logging.getLogger("lrmf_bot")

_STOP_WORDS = frozenset({"stop", "unsubscribe", "optout"})
_NEGATIONS = frozenset({"don't", "dont", "do not", "not", "never", "no"})
#: a comment longer than this is a conversation, not a stop request, unless it addresses the bot
_SHORT = 12


def is_stop_request(text: str, bot_user: str) -> bool:
    """Whether a comment asks the bot to stop: "stop", "please stop", "@bot STOP", "unsubscribe"...

    Any case and spacing. A short comment with a stop word counts; a long one only when the word
    directly follows a mention of the bot, so a discussion that merely uses the word does not.
    """
    t = re.sub(r"<!--.*?-->", " ", str(text).lower(), flags=re.S)
    t = re.sub(r"\bopt[\s\-_]*out\b", "optout", t)
    t = re.sub(r"\bdo\s+not\b", "dont", t)
    tokens = re.findall(r"@?[\w][\w'.\-]*", t)
    mention = "@" + bot_user.lower()
    words = [w.rstrip(".") for w in tokens]
    for i, w in enumerate(words):
        if w not in _STOP_WORDS or (i and words[i - 1] in _NEGATIONS):
            continue
        if (i and words[i - 1] == mention) or len([x for x in words if x != mention]) <= _SHORT:
            return True
    return False


class OptOuts:
    """Reads and honours stop requests during one run."""

    def __init__(self, session: HubSession, user: str, now: datetime):
        self.session, self.user, self.now = session, user, now
        self.cfg, self.state, self.report = session.cfg, session.state, session.report
        self._members: dict[str, set[str]] = {}

    def members(self, namespace: str) -> set[str]:
        """Who may speak for ``namespace``: itself, plus its members when it is an organisation."""
        if namespace not in self._members:
            found = {namespace}
            url = f"{self.session.api.endpoint.rstrip('/')}/api/organizations/{namespace}/members"
            try:
                for page, _ in self.session.pages(url, None, f"reading the members of {namespace}"):
                    found.update(m["user"] for m in page if isinstance(m, dict) and isinstance(m.get("user"), str))
            except HubNotFound:  # a user's namespace: only the user speaks for it
                pass
            self._members[namespace] = found
        return self._members[namespace]

    def read_thread(self, model: str, details: Any) -> str | None:
        """Record a namespace opt-out if an authorised person asked in this bot thread; who asked, or None."""
        namespace = model.split("/")[0]
        events = list(getattr(details, "events", None) or [])
        for i, event in enumerate(events):
            author = getattr(event, "author", None)
            if (getattr(event, "type", None) != "comment" or author in (None, self.user)
                    or not is_stop_request(getattr(event, "content", "") or "", self.user)):
                continue
            if author not in self.members(namespace):
                self.report.ignored_stops += 1
                log.info("%s: ignored a stop request by %s (not a member of %s)", model, author, namespace)
                continue
            self.state.opt_out("namespace", namespace, f"{author} asked to stop", self.now)
            acknowledged = any(getattr(e, "type", None) == "comment" and getattr(e, "author", None) == self.user
                               for e in events[i + 1:])
            if not acknowledged and getattr(details, "status", None) == "open" and self.cfg.post:  # dry runs never write
                self.acknowledge(model, details.num, namespace)
            return author
        return None

    def acknowledge(self, model: str, num: int, namespace: str) -> None:
        """Say once, in the thread, that the bot heard the stop, and close the thread."""
        text = (f"Understood: this bot will not post to any repository of `{namespace}` again. "
                "Closing this discussion.")
        self.session.call(f"acknowledging the stop on {model}",
                          lambda: self.session.api.comment_discussion(model, num, text))
        self.session.call(f"closing the bot thread on {model}",
                          lambda: self.session.api.change_discussion_status(model, num, "closed"))
        self.state.set_post(model, self.now, status="closed")
        self.report.acknowledged += 1

    def refresh_namespace(self, namespace: str) -> None:
        """Re-read the bot's threads in ``namespace`` on the Hub (weekly) and record any stop found."""
        key = f"namespace_checked:{namespace}"
        checked = parse_iso(self.state.get_meta(key))
        if checked is None or self.now - checked >= timedelta(days=self.cfg.namespace_recheck_days):
            for model in self._bot_repos(namespace):
                if self.state.opted_out(model):
                    break
                try:
                    threads = self.session.call(f"listing bot threads on {model}", lambda m=model: list(
                        self.session.api.get_repo_discussions(m, author=self.user)))
                except (HubForbidden, HubNotFound):  # discussions off or repo gone: no bot thread there
                    continue
                for thread in threads:
                    details = self.session.call(f"reading {model} discussion #{thread.num}",
                                                lambda m=model, n=thread.num: self.session.api.get_discussion_details(m, n))
                    self.read_thread(model, details)
            self.state.set_meta(key, iso(self.now))

    def _bot_repos(self, namespace: str) -> list[str]:
        """The namespace's newest text-generation repos (where the bot may have posted), bounded."""
        url = f"{self.session.api.endpoint.rstrip('/')}/api/models"
        params = {"author": namespace, "sort": "createdAt", "pipeline_tag": "text-generation",
                  "limit": min(self.cfg.namespace_scan_limit, 1000)}
        repos: list[str] = [p.model for p in self.state.posts() if p.namespace == namespace]
        for page, _ in self.session.pages(url, params, f"listing the repos of {namespace}"):
            repos += [i["id"] for i in page if isinstance(i, dict) and isinstance(i.get("id"), str)]
            if len(repos) >= self.cfg.namespace_scan_limit:
                break
        return list(dict.fromkeys(repos))[: self.cfg.namespace_scan_limit]


__all__ = ["OptOuts", "is_stop_request"]
