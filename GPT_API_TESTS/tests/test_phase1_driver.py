"""Phase 1: the I/O driver -- where io_uring is refused (Docker's default seccomp profile),
the gateway serves on the legacy driver and its `listening` line says so and why."""
import sys

from gateway import HERE, upstream
from helpers import expected, msgs, sdk, stream_text

NO_IO_URING = [sys.executable, str(HERE / "no_io_uring.py")]


def model(name="m", up="a"):
    return {"name": name, "targets": [{"upstream": up, "weight": 1}]}


def test_refused_io_uring_falls_back_to_legacy_and_says_why(gateway, mocks):
    a = mocks("a")
    gw = gateway([upstream(a)], [model()], wrapper=NO_IO_URING)
    assert gw.listening["driver"] == "legacy"
    assert gw.listening["driver_reason"].startswith("io_uring_setup: Operation not permitted")
    assert "a seccomp filter is active" in gw.listening["driver_reason"]
    c = sdk(gw)
    assert c.chat.completions.create(model="m", messages=msgs("legacy")).choices[0].message.content \
        == expected("legacy")
    text, _ = stream_text(c.chat.completions.create(model="m", messages=msgs("legacy stream"), stream=True))
    assert text == expected("legacy stream")


def test_the_listening_line_names_io_uring_without_a_reason_where_it_works(gateway, mocks):
    a = mocks("a")
    gw = gateway([upstream(a)], [model()])
    if gw.listening["driver"] == "legacy":  # a kernel or sandbox without io_uring
        assert gw.listening["driver_reason"]
    else:
        assert gw.listening["driver"] == "io_uring" and "driver_reason" not in gw.listening
