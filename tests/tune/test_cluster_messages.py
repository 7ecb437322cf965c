"""What `--ray-address` says when it cannot connect, tested in this process: the reasons, the
authentication mode and where Ray looks for a token (the searches that reach a real cluster are in
test_cluster.py, in processes of their own)."""
import pytest

from attention_perturb.errors import SettingError
from attention_perturb.tune import cluster


@pytest.fixture
def token_environment(tmp_path, monkeypatch):
    """No token anywhere, no authentication mode chosen, and a home of our own."""
    for name in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH", "RAY_AUTH_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_where_ray_looks_for_a_token_and_what_is_there(token_environment, monkeypatch):
    default = token_environment / ".ray" / "auth_token"
    assert cluster.token_locations() == (
        f"RAY_AUTH_TOKEN (unset), RAY_AUTH_TOKEN_PATH (unset), then {default} (missing)")
    token_file = token_environment / "token"
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(token_file))
    monkeypatch.setenv("RAY_AUTH_TOKEN", "secret")
    default.parent.mkdir()  # the folder without the file
    assert cluster.token_locations() == (
        f"RAY_AUTH_TOKEN (set), RAY_AUTH_TOKEN_PATH ({token_file} is missing), then {default} (missing)")
    token_file.write_text("t")
    default.write_text("t")
    assert cluster.token_locations() == (
        f"RAY_AUTH_TOKEN (set), RAY_AUTH_TOKEN_PATH ({token_file} exists), then {default} (exists)")


def chained(outer: BaseException, inner: BaseException, explicit: bool = True) -> BaseException:
    try:
        try:
            raise inner
        except type(inner) as error:
            if explicit:
                raise outer from error
            raise outer
    except type(outer) as error:
        return error


def test_an_errors_messages_run_from_the_outermost_through_its_causes():
    assert cluster._messages(chained(RuntimeError("outer"), KeyError("inner"))) == ["RuntimeError: outer", "KeyError: 'inner'"]
    assert cluster._messages(chained(RuntimeError("outer"), OSError("inner"), explicit=False)) == [
        "RuntimeError: outer", "OSError: inner"]  # raised while handling: its context
    looped = RuntimeError("itself")
    looped.__cause__ = looped
    assert cluster._messages(looped) == ["RuntimeError: itself"]


@pytest.mark.parametrize("marker", cluster.REFUSED_AUTHENTICATION)
def test_a_refused_authentication_is_recognised_in_any_cause(marker):
    assert cluster.refused_authentication(chained(ConnectionError("could not connect"), RuntimeError(f"{marker}: no")))
    assert not cluster.refused_authentication(chained(ConnectionError("could not connect"), RuntimeError("timed out")))


def test_each_reason_is_one_line_naming_the_flag_the_mode_and_the_token_locations(token_environment):
    # The mode Ray's client uses is process-wide: a local Ray started earlier in this process can have set it.
    tail = (f" This client's RAY_AUTH_MODE is unset (authentication mode {cluster.auth_mode()}); Ray looks for a token "
            f"in {cluster.token_locations()}.")
    refused = cluster.connection_error("10.0.0.1:6379", chained(ConnectionError("failed"), RuntimeError("UNAUTHENTICATED")))
    unanswered = cluster.connection_error("10.0.0.1:6379", ConnectionError("timed out"))
    malformed = cluster.connection_error("10.0.0.1", ValueError("no port"))
    assert isinstance(refused, SettingError)
    assert str(refused) == (
        "ray_address: 10.0.0.1:6379: cannot connect to the Ray cluster (the cluster refused this client's "
        "authentication; a cluster started with token authentication needs RAY_AUTH_MODE=token and its token "
        "(`ray get-auth-token` on the head) here)." + tail)
    assert str(unanswered) == (
        "ray_address: 10.0.0.1:6379: cannot connect to the Ray cluster (no Ray cluster answered there; is "
        "`ray start --head --port PORT` running and reachable from here)." + tail)
    assert str(malformed) == (
        "ray_address: 10.0.0.1: cannot connect to the Ray cluster (no port; give the head's host:port, as "
        "`ray start --head` printed it)." + tail)
    assert all("\n" not in str(error) for error in (refused, unanswered, malformed))


def test_a_malformed_address_fails_at_once_with_ray_s_reason(token_environment):
    import ray

    with pytest.raises(SettingError) as raised:
        cluster.connect("localhost:notaport")
    message = str(raised.value)
    assert message.startswith("ray_address: localhost:notaport: cannot connect to the Ray cluster (")
    assert "notaport" in message.split("(", 1)[1] and "; give the head's host:port" in message
    assert message.endswith(f"Ray looks for a token in {cluster.token_locations()}.")
    assert isinstance(raised.value.__cause__, ValueError) and not ray.is_initialized()


class RayInit:
    """Stands in for `ray.init` against a cluster that refuses the first `refusals` connections:
    the retry logic is this package's, the refusal Ray's (test_cluster.py meets a real one)."""

    def __init__(self, refusals):
        self.refusals, self.calls = refusals, []

    def __call__(self, **arguments):
        import os

        self.calls.append((arguments, os.environ.get("RAY_AUTH_MODE")))
        if len(self.calls) <= self.refusals:
            raise ConnectionError(f"UNAUTHENTICATED: refusal {len(self.calls)}")


@pytest.fixture
def refusing_cluster(token_environment, monkeypatch):
    def make(refusals, token=True):
        init, switched = RayInit(refusals), []
        monkeypatch.setattr(cluster.ray, "init", init)
        monkeypatch.setattr(cluster, "token_available", lambda: token)
        monkeypatch.setattr(cluster, "_use_token_authentication", lambda: switched.append("token"))
        return init, switched
    return make


def test_a_refused_client_connects_again_with_token_authentication(refusing_cluster, caplog):
    init, switched = refusing_cluster(1)
    with caplog.at_level("WARNING", logger=cluster.__name__):
        cluster.connect("10.0.0.1:6379")
    assert [arguments for arguments, _ in init.calls] == [{"address": "10.0.0.1:6379", "log_to_driver": False}] * 2
    assert switched == ["token"]
    assert caplog.messages == ["10.0.0.1:6379 refused a client without token authentication (after 0 s): connecting "
                               "again with RAY_AUTH_MODE=token"]


@pytest.mark.parametrize("mode, token, calls", [(None, True, 2), ("token", True, 1), (None, False, 1)])
def test_a_client_is_retried_only_where_its_mode_is_open_and_a_token_is_there(refusing_cluster, monkeypatch, mode,
                                                                              token, calls):
    if mode:
        monkeypatch.setenv("RAY_AUTH_MODE", mode)
    init, switched = refusing_cluster(2, token=token)
    with pytest.raises(SettingError) as raised:
        cluster.connect("10.0.0.1:6379")
    assert len(init.calls) == calls and len(switched) == calls - 1
    assert str(raised.value.__cause__) == f"UNAUTHENTICATED: refusal {calls}"  # the last refusal's
    assert "the cluster refused this client's authentication" in str(raised.value)


def test_a_token_in_the_environment_is_available(token_environment, monkeypatch):
    from ray._raylet import AuthenticationTokenLoader

    AuthenticationTokenLoader.instance().reset_cache()
    assert not cluster.token_available()
    monkeypatch.setenv("RAY_AUTH_TOKEN", "0123456789abcdef0123456789abcdef")
    AuthenticationTokenLoader.instance().reset_cache()
    assert cluster.token_available()
    monkeypatch.delenv("RAY_AUTH_TOKEN")
    AuthenticationTokenLoader.instance().reset_cache()
    assert cluster.auth_mode() in ("disabled", "token")
