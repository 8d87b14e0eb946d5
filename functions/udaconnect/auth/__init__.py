"""Who is calling and what they may do: bearer tokens (tokens), the rule per route (policy), rate limits
(ratelimit) and the audit log of organizers' reads (audit)."""

from udaconnect.auth.policy import Access, authorize, principal_of
from udaconnect.auth.tokens import ANONYMOUS, Principal, issue, verify

__all__ = ["ANONYMOUS", "Access", "Principal", "authorize", "issue", "principal_of", "verify"]
