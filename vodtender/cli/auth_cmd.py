"""`vodtender auth youtube`: Google's installed-app flow, then the tokens go into `oauth_tokens`.
`vodtender auth rotate-key`: every stored token re-encrypted under a new key.

The consent page redirects to a loopback address this command listens on.  On a headless server,
either forward the port (`ssh -L PORT:127.0.0.1:PORT server`, with `--port PORT`), or open the URL
anywhere and paste back the address the browser ends up on (it fails to load; that is fine).
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

from vodtender.cli.commands import summary
from vodtender.cli.common import load_or_exit, open_migrated
from vodtender.clients.google_oauth import ConsentRequest, LoopbackReceiver, OAuthError, TokenEndpoint
from vodtender.pipeline.upload.tokens import TokenCipher, TokenStore, TokenUnreadable, reseal_all, rotate_key_file


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("auth", help=summary("auth"))
    authsub = p.add_subparsers(dest="auth_command", required=True)
    yt = authsub.add_parser(
        "youtube",
        help="authorize uploads to a YouTube channel and store the tokens",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    yt.add_argument("--port", type=int, default=0, help="loopback port for Google's redirect (default: any free one)")
    yt.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for the consent (default 600)")
    yt.set_defaults(func=cmd_youtube)
    rotate = authsub.add_parser(
        "rotate-key",
        help="re-encrypt every stored token under a new key",
        description=ROTATE_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    rotate.add_argument(
        "--old-key-file",
        type=Path,
        metavar="FILE",
        help="with ENCRYPTION_KEY set: a file holding the key the tokens were encrypted with before",
    )
    rotate.set_defaults(func=cmd_rotate_key)


ROTATE_HELP = """Without ENCRYPTION_KEY: a new key is generated into ENCRYPTION_KEY_FILE, every token is
re-encrypted under it and the old key is dropped; a running uploader follows by itself.

With ENCRYPTION_KEY (or the credential encryption-key): set the new key first, then run this with
--old-key-file holding the previous one; then restart the uploader.
"""


def _wait_for_redirect(receiver: LoopbackReceiver, timeout: float) -> str | None:
    """The redirected address: caught by the loopback server, or pasted on an interactive terminal."""
    pasted: list[str] = []
    if sys.stdin.isatty():

        def read_paste() -> None:
            line = sys.stdin.readline()
            if line.strip():
                pasted.append(line.strip())
                receiver.done.set()

        threading.Thread(target=read_paste, name="paste", daemon=True).start()
    if not receiver.done.wait(timeout):
        return None
    return receiver.result or (pasted[0] if pasted else None)


def cmd_youtube(args: argparse.Namespace, config_argv: list[str]) -> int:
    cfg = load_or_exit(config_argv)
    if not (cfg.yt_client_id and cfg.yt_client_secret):
        print(
            "vodtender auth youtube: set YT_CLIENT_ID and YT_CLIENT_SECRET (a Google OAuth client of type "
            "'Desktop app') first",
            file=sys.stderr,
        )
        return 2
    open_migrated(cfg)
    with LoopbackReceiver(args.port) as receiver:
        consent = ConsentRequest.create(cfg.youtube_auth_url, cfg.yt_client_id, receiver.redirect_uri)
        print("Open this URL in a browser and allow access to the YouTube channel to upload to:\n")
        print(f"    {consent.url}\n")
        print(
            f"Waiting for Google's redirect to {receiver.redirect_uri} "
            "(or paste the address the browser was sent to, then Enter)...",
            flush=True,
        )
        redirected = _wait_for_redirect(receiver, args.timeout)
    if redirected is None:
        print(f"vodtender auth youtube: no answer within {args.timeout:.0f}s; nothing changed", file=sys.stderr)
        return 1
    endpoint = TokenEndpoint(cfg.youtube_token_url, cfg.yt_client_id, cfg.yt_client_secret)
    try:
        grant = endpoint.exchange_code(
            consent.code_from_redirect(redirected), consent.redirect_uri, consent.code_verifier
        )
    except (ValueError, OAuthError) as exc:
        print(f"vodtender auth youtube: {exc}; nothing changed", file=sys.stderr)
        return 1
    if not grant.refresh_token:
        print(
            "vodtender auth youtube: Google sent no refresh token (access was granted before): remove this "
            "app's access in your Google account's security settings and run the command again",
            file=sys.stderr,
        )
        return 1
    store = TokenStore(TokenCipher.for_config(cfg))
    try:
        store.save(grant)
    except TokenUnreadable as exc:
        print(f"vodtender auth youtube: {exc}; nothing changed", file=sys.stderr)
        return 1
    expires = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(grant.expires_at))
    print(
        f"YouTube tokens stored (encrypted with {store.cipher.describe()}; access token valid "
        f"until {expires}, refreshed automatically). A running uploader resumes within seconds."
    )
    return 0


def cmd_rotate_key(args: argparse.Namespace, config_argv: list[str]) -> int:
    cfg = load_or_exit(config_argv)
    try:
        old_keys = [args.old_key_file.read_text().strip()] if args.old_key_file else []
    except OSError as exc:
        print(f"vodtender auth rotate-key: cannot read {args.old_key_file}: {exc.strerror}", file=sys.stderr)
        return 2
    open_migrated(cfg)
    cipher = TokenCipher.for_config(cfg, old_keys)
    try:
        rewritten = reseal_all(cipher) if cfg.encryption_key else rotate_key_file(cipher)
    except TokenUnreadable as exc:
        print(f"vodtender auth rotate-key: {exc}; nothing changed", file=sys.stderr)
        return 1
    print(f"{rewritten} token row(s) re-encrypted with {cipher.describe()}")
    return 0
