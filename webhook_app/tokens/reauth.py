"""Why an account must be connected again, in words for a person: one message per Graph 190 subcode and TikTok error.

Meta's subcodes of error 190 (developers.facebook.com/docs/graph-api/guides/error-handling, "Authentication
error subcodes"): 458 app not installed, 459 user checkpointed, 460 password changed, 463 expired, 464
unconfirmed user, 467 invalid access token, 492 invalid session (no role on the Page). TikTok's codes are
its Login Kit v2 ones (developers.tiktok.com, "Refresh a user access token" and the v2 error codes).
"""
from __future__ import annotations

META_SUBCODES = {
    458: "The app was removed from this account (by the account's owner or the Page's admin): ask them to "
         "reconnect it.",
    459: "Meta locked this account until its owner logs in to Facebook and completes a security check; after "
         "that, reconnect it.",
    460: "The account's password was changed, which signs out every app: reconnect it with the new password.",
    463: "The access token expired: reconnect the account to renew it.",
    464: "The person who connected this account has not confirmed their Facebook account yet: they must confirm "
         "it, then reconnect.",
    467: "Meta no longer accepts this account's token (it was logged out or invalidated): reconnect the account.",
    492: "The person who connected this Page no longer has a role on it: a Page admin must reconnect it.",
}
META_DEFAULT = "Meta refused this account's token: reconnect the account."
META_PERMISSION = "A permission this service needs was taken back or never granted: reconnect and allow every " \
                  "permission asked for."

TIKTOK_CODES = {
    "invalid_grant": "TikTok no longer accepts this account's refresh token (it is older than 180 days, was "
                     "replaced, or access was removed in TikTok): reconnect TikTok.",
    "access_token_invalid": "TikTok refused this account's access token: reconnect TikTok.",
    "scope_not_authorized": "The TikTok user took back a permission this service needs: reconnect TikTok and "
                            "allow every permission asked for.",
    "scope_permission_missed": "The TikTok user took back a permission this service needs: reconnect TikTok and "
                               "allow every permission asked for.",
    "access_denied": "Access to this TikTok account was removed: reconnect TikTok.",
    "invalid_token": "TikTok refused this account's token: reconnect TikTok.",
}
TIKTOK_DEFAULT = "TikTok refused this account's token: reconnect TikTok."
UNAVAILABLE = "The stored token cannot be used any more: reconnect the account."


def message(kind: str, code=None, subcode=None) -> str:
    """The sentence shown on the banner and in the accounts API for this refusal."""
    if kind == "tiktok":
        return TIKTOK_CODES.get(str(code), TIKTOK_DEFAULT)
    try:
        code, subcode = (int(code) if code is not None else None), (int(subcode) if subcode is not None else None)
    except (TypeError, ValueError):
        return META_DEFAULT
    if subcode in META_SUBCODES:
        return META_SUBCODES[subcode]
    if code == 10 or (code is not None and 200 <= code < 300):
        return META_PERMISSION
    return META_DEFAULT


def for_error(kind: str, exc: Exception) -> str:
    """The message for a refused call (graph.GraphError) or a token we cannot open (TokenUnavailable)."""
    code = getattr(exc, "code", None)
    if code is None and not hasattr(exc, "subcode"):
        return UNAVAILABLE
    return message(kind, code, getattr(exc, "subcode", None))
