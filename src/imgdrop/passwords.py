"""Password rules (OWASP ASVS 2.1): length bounds, no username, and zxcvbn's strength score."""

from __future__ import annotations

from dataclasses import dataclass

from imgdrop.core.errors import InvalidRequest

# zxcvbn's own bound: its matching cost grows quickly with length, and a longer password is
# judged by its first 72 characters (enough to see any weakness a person would pick).
ZXCVBN_CHARS = 72
COMMON_WARNINGS = ("common", "top-", "similar to a commonly used")


class WeakPassword(InvalidRequest):
    """The new password breaks a rule; the message says which in plain words."""

    code = "weak_password"


@dataclass(frozen=True)
class PasswordRules:
    """The rules a new password must meet."""

    min_chars: int = 12
    max_chars: int = 256
    min_score: int = 3

    def check(self, password: str, username: str) -> None:
        """Raise WeakPassword (400) explaining the first rule `password` breaks."""
        if len(password) > self.max_chars:
            raise WeakPassword(f"Use at most {self.max_chars} characters for your password.")
        if len(username) >= 3 and (
            username.lower() in password.lower() or username.lower()[::-1] in password.lower()
        ):
            raise WeakPassword("Don't use your username in your password.")
        _check_strength(password, username, self.min_score)
        if len(password) < self.min_chars:
            raise WeakPassword(f"Use at least {self.min_chars} characters for your password.")


def _check_strength(password: str, username: str, min_score: int) -> None:
    """zxcvbn's verdict, in plain words with its own suggestions."""
    # Imported here, not at load: its dictionaries cost a cold start ~60 ms, and only a
    # sign-up or a password change needs them (the import lock makes the first one safe).
    from zxcvbn import zxcvbn

    result = zxcvbn(password[:ZXCVBN_CHARS], user_inputs=[username, "imgdrop"])
    if int(result["score"]) >= min_score:
        return
    feedback = result.get("feedback") or {}
    warning = str(feedback.get("warning") or "")
    if any(w in warning.lower() for w in COMMON_WARNINGS):
        lead = "This password is too common: it is among the first that attackers try."
    else:
        lead = "This password is too easy to guess."
        if warning:
            lead += f" {warning}"
    tips = " ".join(str(s) for s in feedback.get("suggestions") or [])
    raise WeakPassword(f"{lead} {tips or 'Add another word or two.'}".strip())
