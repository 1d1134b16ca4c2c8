"""Phase 1: SIGHUP reloads the config without dropping connections or in-flight streams;
a bad new config is refused and the old one keeps serving."""
import signal
import threading

from gateway import to_toml, upstream
from helpers import expected, msgs, sdk, stream_text
from mock_upstream import Behaviour

LONG = "reload " * 3


def reload_with(gw, config: dict, event: str) -> dict:
    seen = len(gw.lines)
    gw.config_path.write_text(to_toml(config))
    gw.proc.send_signal(signal.SIGHUP)
    return gw.wait_line(lambda l: gw.lines.index(l) >= seen and l.get("event") == event, timeout=5)


def test_reload_adds_a_model_without_failing_in_flight_requests(gateway, mocks):
    a = mocks("a")
    gw = gateway([upstream(a)], [{"name": "m", "targets": [{"upstream": "a"}]}])
    a.default = Behaviour(chunk_interval_ms=60)  # a stream of ~1 s, in flight during the reload
    result = {}

    def in_flight():
        text, _ = stream_text(sdk(gw).chat.completions.create(model="m", messages=msgs(LONG), stream=True))
        result["text"] = text

    thread = threading.Thread(target=in_flight)
    thread.start()
    a.wait_requests(1)
    new_config = dict(gw.config)
    new_config["model"] = gw.config["model"] + [{"name": "m2", "targets": [{"upstream": "a", "model": "m2-upstream"}]}]
    line = reload_with(gw, new_config, "config_reloaded")
    assert line["models"] == 2
    a.default = Behaviour()
    reply = sdk(gw).chat.completions.create(model="m2", messages=msgs("new model"))
    assert reply.choices[0].message.content == expected("new model")
    assert a.requests[-1].body["model"] == "m2-upstream"
    assert [m.id for m in sdk(gw).models.list().data] == ["m", "m2"]
    thread.join(timeout=20)
    assert result.get("text") == expected(LONG), "the stream in flight finished intact"

    broken = dict(new_config)
    broken["model"] = new_config["model"] + [{"name": "m3", "targets": [{"upstream": "nowhere"}]}]
    line = reload_with(gw, broken, "config_reload_rejected")
    assert "unknown upstream 'nowhere'" in line["problems"]
    reply = sdk(gw).chat.completions.create(model="m2", messages=msgs("still here"))
    assert reply.choices[0].message.content == expected("still here")
