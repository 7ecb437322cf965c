"""Connecting `--ray-address` to a running Ray cluster, with or without token authentication.

Ray 2.60 starts a head (`ray start --head`) with token authentication whenever `RAY_AUTH_MODE` is
unset and a token is found (`RAY_AUTH_TOKEN`, the file `RAY_AUTH_TOKEN_PATH` names, or
`~/.ray/auth_token`), but a client given an explicit address uses token authentication only when
`RAY_AUTH_MODE=token` is exported: it is refused (`InvalidAuthToken`) and gives up after a minute of
retries. `connect` tries as Ray would; if the cluster refused a client with `RAY_AUTH_MODE` unset and a
token is available, it connects again with token authentication. Any failure becomes one line naming
the address, the authentication mode and where Ray looks for the token."""
import logging
import os
import time
from pathlib import Path
from typing import List

import ray

from attention_perturb.errors import SettingError

logger = logging.getLogger(__name__)

AUTH_MODE_VARIABLE = "RAY_AUTH_MODE"
TOKEN_VARIABLE = "RAY_AUTH_TOKEN"
TOKEN_PATH_VARIABLE = "RAY_AUTH_TOKEN_PATH"
# What Ray's client reports when the cluster refuses its authentication.
REFUSED_AUTHENTICATION = ("AuthenticationError", "InvalidAuthToken", "UNAUTHENTICATED")
# What `ray.init(address=...)` raises when it cannot connect (ValueError: a malformed address).
CONNECTION_ERRORS = (ConnectionError, RuntimeError, ValueError, ray.exceptions.AuthenticationError)


def auth_mode() -> str:
    """The authentication mode this process's Ray client uses ("disabled" or "token")."""
    from ray._private.authentication.authentication_utils import get_authentication_mode_name
    from ray._raylet import get_authentication_mode

    return get_authentication_mode_name(get_authentication_mode())


def default_token_file() -> Path:
    return Path.home() / ".ray" / "auth_token"


def token_available() -> bool:
    from ray._raylet import AuthenticationTokenLoader

    return AuthenticationTokenLoader.instance().has_token(ignore_auth_mode=True)


def token_locations() -> str:
    """Where Ray looks for a token, in its order, and what is there."""
    path = os.environ.get(TOKEN_PATH_VARIABLE)
    default = default_token_file()
    return (
        f"{TOKEN_VARIABLE} ({'set' if os.environ.get(TOKEN_VARIABLE) else 'unset'}), "
        f"{TOKEN_PATH_VARIABLE} ({path + (' exists' if Path(path).is_file() else ' is missing') if path else 'unset'}), "
        f"then {default} ({'exists' if default.is_file() else 'missing'})"
    )


def _messages(error: BaseException) -> List[str]:
    """The error and its causes, outermost first."""
    messages, seen = [], set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        messages.append(f"{type(error).__name__}: {error}")
        error = error.__cause__ or error.__context__
    return messages


def refused_authentication(error: BaseException) -> bool:
    return any(marker in message for message in _messages(error) for marker in REFUSED_AUTHENTICATION)


def _use_token_authentication() -> None:
    """`RAY_AUTH_MODE=token` for this process (and the Ray client's cached configuration)."""
    from ray._private.authentication.authentication_token_setup import _enable_token_auth
    from ray._raylet import AuthenticationTokenLoader

    _enable_token_auth()
    AuthenticationTokenLoader.instance().reset_cache()


def connection_error(address: str, error: BaseException) -> SettingError:
    if refused_authentication(error):
        reason = ("the cluster refused this client's authentication; a cluster started with token authentication "
                  f"needs {AUTH_MODE_VARIABLE}=token and its token (`ray get-auth-token` on the head) here")
    elif isinstance(error, ValueError):
        reason = f"{error}; give the head's host:port, as `ray start --head` printed it"
    else:
        reason = "no Ray cluster answered there; is `ray start --head --port PORT` running and reachable from here"
    return SettingError(
        "ray_address", f"{address}: cannot connect to the Ray cluster ({reason}). "
        f"This client's {AUTH_MODE_VARIABLE} is {os.environ.get(AUTH_MODE_VARIABLE, 'unset')} "
        f"(authentication mode {auth_mode()}); Ray looks for a token in {token_locations()}."
    )


def connect(address: str) -> None:
    """`ray.init(address=address)`, retried with token authentication where the cluster asks for
    it and `RAY_AUTH_MODE` leaves the choice open; a `SettingError` of `ray_address` saying why if it fails."""
    mode_chosen = AUTH_MODE_VARIABLE in os.environ
    started = time.time()
    try:
        ray.init(address=address, log_to_driver=False)
        return
    except CONNECTION_ERRORS as error:
        failure = error
    if not mode_chosen and refused_authentication(failure) and token_available():
        logger.warning(f"{address} refused a client without token authentication (after {time.time() - started:.0f} s): "
                       f"connecting again with {AUTH_MODE_VARIABLE}=token")
        _use_token_authentication()
        try:
            ray.init(address=address, log_to_driver=False)
            return
        except CONNECTION_ERRORS as error:
            failure = error
    raise connection_error(address, failure) from failure
