"""`imgdrop login` / `imgdrop logout`: a saved bearer token per server, like `gh auth login`."""

from __future__ import annotations

import getpass
import sys

import httpx
import typer

from imgdrop import credentials
from imgdrop.core.errors import ImgdropError
from imgdrop.uploader import TIMEOUT, api_error, unreachable

MAX_PASSWORD_CHARS = 1024  # the API's own bound; more from stdin is a mistake, not a password


def read_password(from_stdin: bool) -> str:
    """The password: one line of stdin with --password-stdin, else a hidden prompt."""
    if from_stdin:
        line = sys.stdin.readline(MAX_PASSWORD_CHARS + 2).rstrip("\r\n")
        if len(line) > MAX_PASSWORD_CHARS:
            raise ImgdropError(f"The password is longer than {MAX_PASSWORD_CHARS} characters.")
        if not line:
            raise ImgdropError("--password-stdin read an empty password.")
        return line
    if not sys.stdin.isatty():
        raise ImgdropError("No terminal to ask for the password: use --password-stdin.")
    return getpass.getpass("Password: ", stream=sys.stderr)


def ask_username(username: str | None) -> str:
    """--username, else a prompt on the terminal."""
    if username:
        return username.strip()
    if not sys.stdin.isatty():
        raise ImgdropError("No terminal to ask for the username: use --username NAME.")
    sys.stderr.write("Username: ")
    sys.stderr.flush()
    return sys.stdin.readline(256).strip()


def login_command(server: str, username: str | None, password_stdin: bool) -> None:
    """Sign in at `server` and save the token; one line on stderr says where."""
    name = ask_username(username)
    password = read_password(password_stdin)
    try:
        answer = httpx.post(
            f"{server}/api/login",
            json={"username": name, "password": password},
            timeout=TIMEOUT,
        )
    except httpx.TransportError as exc:
        raise unreachable(server, exc) from None
    if answer.status_code != 200:
        raise ImgdropError(f"{server} did not sign you in: {api_error(answer)}")
    path = credentials.save_login(server, name, str(answer.json()["token"]))
    typer.echo(f"Signed in to {server} as {name}. Token saved in {path}.", err=True)


def logout_command(server: str) -> int:
    """End the session on the server (best effort) and forget the token; exit status."""
    token = credentials.saved_token(server)
    if token is None:
        typer.echo(f"imgdrop: not signed in to {server}; nothing to do.", err=True)
        return 1
    ended = "and ended the session on the server"
    try:
        httpx.post(
            f"{server}/api/logout", headers={"Authorization": f"Bearer {token}"}, timeout=TIMEOUT
        )
    except httpx.TransportError:
        ended = f"(could not reach {server} to end the session there)"
    credentials.forget_login(server)
    typer.echo(f"Signed out of {server}: deleted the saved token {ended}.", err=True)
    return 0
