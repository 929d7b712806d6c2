"""Web addresses as Memlane compares them: the host of an address, and whether it is on a site
(the domain itself or one of its subdomains), for the site filter in search and the
``[privacy] exclude_urls`` rules."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

SITE_TOKEN = re.compile(r"(?:^|\s)site:(\S+)", re.IGNORECASE)


def host_of(url: str) -> str:
    """The host of ``url`` in lower case (``""`` when it has none), with or without a scheme."""
    try:
        host = urlsplit(url if "://" in url else f"//{url}").hostname or ""
    except ValueError:
        return ""
    return host.lower().rstrip(".")


def on_site(url: str, site: str) -> bool:
    """Whether ``url`` is on ``site``: the same host, or a subdomain of it."""
    host, site = host_of(url), host_of(site.strip())
    return bool(host and site) and (host == site or host.endswith("." + site))


def split_site(text: str) -> tuple[str | None, str]:
    """``"site:github.com rust"`` -> ``("github.com", "rust")``; the last ``site:`` wins."""
    found = SITE_TOKEN.findall(text)
    if not found:
        return None, text
    return found[-1], " ".join(SITE_TOKEN.sub(" ", text).split())
