"""The hook runner: combination read from the spec, awaiting, order, scoping, observers, wrappers, tracing."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pluggy
import pytest

from proxy import hookspecs
from proxy.context import Endpoint, ModeSpec, UpstreamRequest
from proxy.errors import InvalidRequest
from proxy.hookspecs import hookimpl, hookspec
from proxy.runner import HookRunner


class ExtraSpecs:
    """Hooks a plugin could add: the runner must read their options, not know their names."""

    @hookspec(firstresult=True)
    def pick(self, ctx): ...

    @hookspec
    def gather(self, ctx): ...


def make_runner(*plugins: object, trace: bool = False) -> HookRunner:
    pm = pluggy.PluginManager("llmgate")
    pm.add_hookspecs(hookspecs)
    pm.add_hookspecs(ExtraSpecs)
    for index, plugin in enumerate(plugins):
        pm.register(plugin, name=f"p{index}")
    return HookRunner(pm, trace=trace)


def ctx(mode: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(mode=mode, request_id="req-1")


class AsyncAbstains:
    @hookimpl(tryfirst=True)
    async def resolve_mode(self, ctx):
        return None


class SyncAnswers:
    @hookimpl
    def resolve_mode(self, ctx):
        return "bypass"


class AsyncAnswers:
    def __init__(self, answer: str) -> None:
        self.answer = answer

    @hookimpl
    async def resolve_mode(self, ctx):
        return self.answer

    @hookimpl
    async def pick(self, ctx):
        return self.answer

    @hookimpl
    async def gather(self, ctx):
        return self.answer


class Abstains:
    @hookimpl
    def pick(self, ctx):
        return None

    @hookimpl
    def gather(self, ctx):
        return None


# --- how results combine ---------------------------------------------------------------------


async def test_async_none_falls_through_to_the_next_implementation() -> None:
    # With pluggy alone the coroutine of AsyncAbstains would count as the first result.
    runner = make_runner(SyncAnswers(), AsyncAbstains())
    assert await runner.call("resolve_mode", ctx()) == "bypass"


async def test_async_result_is_awaited() -> None:
    runner = make_runner(AsyncAnswers("emulator"))
    assert await runner.call("resolve_mode", ctx()) == "emulator"


async def test_firstresult_is_read_from_the_spec() -> None:
    runner = make_runner(AsyncAnswers("a"), Abstains(), AsyncAnswers("b"))
    # Same implementations, same call: the spec alone decides between first result and collecting.
    assert await runner.call("pick", ctx()) == "b"
    assert await runner.call("gather", ctx()) == ["b", "a"]
    assert runner.kind("pick")[0] == "first" and runner.kind("gather")[0] == "collect"


async def test_collect_with_no_answer_is_an_empty_list_and_first_is_none() -> None:
    runner = make_runner(Abstains())
    assert await runner.call("gather", ctx()) == []
    assert await runner.call("pick", ctx()) is None


async def test_tryfirst_and_trylast_order() -> None:
    calls: list[str] = []

    def plugin(name: str, **marks: bool) -> object:
        class P:
            @hookimpl(**marks)
            async def request_finished(self, ctx):
                calls.append(name)

        return P()

    runner = make_runner(plugin("last", trylast=True), plugin("early"), plugin("late"), plugin("first", tryfirst=True))
    await runner.call("request_finished", ctx())
    # tryfirst, then later registrations first, then trylast (pluggy's order).
    assert calls == ["first", "late", "early", "last"]


async def test_mode_hooks_run_only_for_their_own_mode() -> None:
    seen: list[str] = []

    class Mode:
        def __init__(self, name: str) -> None:
            self.name = name

        @hookimpl
        def register_modes(self):
            return [ModeSpec(self.name, (Endpoint("POST", f"/v1/{self.name}"),), self.name, plugin=self)]

        @hookimpl
        def transform_request(self, ctx):
            seen.append(self.name)

    class Global:
        @hookimpl
        def transform_request(self, ctx):
            seen.append("global")

    alpha, beta = Mode("alpha"), Mode("beta")
    runner = make_runner(alpha, beta, Global())
    runner.set_modes({m.name: ModeSpec(m.name, (), m.name, plugin=m) for m in (alpha, beta)})
    await runner.call("transform_request", ctx("alpha"))
    assert seen == ["global", "alpha"]
    seen.clear()
    await runner.call("transform_request", ctx("beta"))
    assert seen == ["global", "beta"]


async def test_chained_hook_passes_each_result_to_the_next() -> None:
    class AddsHeader:
        @hookimpl(tryfirst=True)
        def prepare_upstream_request(self, ctx, request):
            request.headers = {**(request.headers or {}), "x-tenant": "blue"}  # in place, returns None

    class Replaces:
        @hookimpl
        async def prepare_upstream_request(self, ctx, request):
            return UpstreamRequest(request.path, {**request.json, "keep_alive": "5m"}, request.stream,
                                   headers=request.headers)

    class SeesTheReplacement:
        @hookimpl(trylast=True)
        def prepare_upstream_request(self, ctx, request):
            assert request.json["keep_alive"] == "5m"
            request.headers["x-seen"] = "yes"

    runner = make_runner(SeesTheReplacement(), Replaces(), AddsHeader())
    original = UpstreamRequest("/api/chat", {"model": "m"}, stream=False)
    final = await runner.call("prepare_upstream_request", ctx(), request=original)
    assert final.json == {"model": "m", "keep_alive": "5m"}
    assert final.headers == {"x-tenant": "blue", "x-seen": "yes"}


async def test_stream_transforms_wrap_each_other_in_order() -> None:
    class Upper:
        @hookimpl(tryfirst=True)
        def stream_transform_response(self, ctx, stream):
            async def wrap():
                async for chunk in stream:
                    yield chunk.upper()

            return wrap()

    class Exclaim:
        @hookimpl
        def stream_transform_response(self, ctx, stream):
            async def wrap():
                async for chunk in stream:
                    yield chunk + b"!"

            return wrap()

    class Abstain:
        @hookimpl
        def stream_transform_response(self, ctx, stream):
            return None

    async def source():
        yield b"a"
        yield b"b"

    runner = make_runner(Exclaim(), Abstain(), Upper())
    chunks = [chunk async for chunk in runner.chain_stream(ctx(), source())]
    # Upper runs first, so it wraps the source and Exclaim wraps Upper.
    assert chunks == [b"A!", b"B!"]


def test_set_up_hooks_must_not_be_async() -> None:
    class Bad:
        @hookimpl
        async def register_modes(self):
            return []

    runner = make_runner(Bad())
    with pytest.raises(TypeError, match="register_modes must not be async"):
        runner.call_sync("register_modes")


def test_pluggy_wrappers_are_refused_at_start_up() -> None:
    class OldStyle:
        @hookimpl(wrapper=True)
        def transform_request(self, ctx):
            return (yield)

    with pytest.raises(TypeError, match="plugin p0 declares transform_request as a pluggy wrapper.*wrap_request"):
        make_runner(OldStyle())


# --- observers --------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.finished = 0

    @hookimpl
    async def request_finished(self, ctx):
        self.finished += 1


class Broken:
    @hookimpl(tryfirst=True)
    def request_finished(self, ctx):
        raise RuntimeError("the disk is full")

    @hookimpl
    async def startup(self, state):
        raise ValueError("no config")


@pytest.mark.parametrize("trace", [False, True])
async def test_observer_exception_is_logged_with_the_plugin_name_and_the_rest_run(
    trace: bool, caplog: pytest.LogCaptureFixture
) -> None:
    recorder = Recorder()
    runner = make_runner(recorder, Broken(), trace=trace)
    with caplog.at_level(logging.INFO):
        await runner.call("request_finished", ctx())  # does not raise
        await runner.call("startup", state=object())
    assert recorder.finished == 1  # the observer after the broken one still ran
    failures = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(failures) == 2  # one record per failure, also with tracing on
    finished, started = failures
    # The plugin's name, the hook and the traceback are in the same record.
    assert "plugin=p1" in finished.getMessage() and "hook=request_finished" in finished.getMessage()
    assert "the disk is full" in finished.getMessage()
    assert finished.exc_info is not None and finished.exc_info[0] is RuntimeError
    assert "plugin=p1" in started.getMessage() and "hook=startup" in started.getMessage()
    assert started.exc_info is not None and started.exc_info[0] is ValueError
    assert ("duration_ms=" in finished.getMessage()) is trace


async def test_exceptions_of_other_hooks_reach_the_caller() -> None:
    class Refuses:
        @hookimpl
        async def transform_request(self, ctx):
            raise InvalidRequest("bad input")

    runner = make_runner(Refuses())
    with pytest.raises(InvalidRequest, match="bad input"):
        await runner.call("transform_request", ctx())


# --- wrap_request -------------------------------------------------------------------------------


async def test_wrappers_compose_around_the_handler_first_outermost() -> None:
    events: list[str] = []

    def layer(name: str, **marks: bool) -> object:
        class Wrapper:
            @hookimpl(**marks)
            async def wrap_request(self, ctx, call_next):
                events.append(f"{name} in")
                response = await call_next()
                events.append(f"{name} out")
                return None if name == "outer" else f"{response}+{name}"

        return Wrapper()

    async def handler():
        events.append("handler")
        return "response"

    runner = make_runner(layer("inner"), layer("outer", tryfirst=True))
    result = await runner.around_request(ctx(), handler)
    assert events == ["outer in", "inner in", "handler", "inner out", "outer out"]
    # inner decorated the response; outer returned None, which leaves it as it was.
    assert result == "response+inner"


async def test_a_wrapper_may_answer_without_calling_next() -> None:
    class Cache:
        @hookimpl
        async def wrap_request(self, ctx, call_next):
            return "cached"

    async def handler():
        raise AssertionError("the handler must not run")

    assert await make_runner(Cache()).around_request(ctx(), handler) == "cached"


async def test_without_wrappers_the_handler_runs_directly() -> None:
    async def handler():
        return "plain"

    runner = make_runner()
    assert await runner.around_request(ctx(), handler) == "plain"
    with pytest.raises(TypeError, match="around_request"):
        await runner.call("wrap_request", ctx(), call_next=handler)


# --- tracing --------------------------------------------------------------------------------------


def trace_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, str]]:
    return [
        dict(part.split("=", 1) for part in r.getMessage().split())
        for r in caplog.records
        if r.name == "llmgate.requests" and r.levelno == logging.INFO
    ]


async def test_tracing_logs_each_call_with_hook_plugin_and_duration(caplog: pytest.LogCaptureFixture) -> None:
    runner = make_runner(AsyncAbstains(), SyncAnswers(), trace=True)
    with caplog.at_level(logging.INFO, logger="llmgate.requests"):
        assert await runner.call("resolve_mode", ctx()) == "bypass"
    lines = trace_lines(caplog)
    assert [(line["hook"], line["plugin"]) for line in lines] == [("resolve_mode", "p0"), ("resolve_mode", "p1")]
    assert all(float(line["duration_ms"]) >= 0 and line["request_id"] == "req-1" for line in lines)


async def test_tracing_marks_an_exception_that_travels_on(caplog: pytest.LogCaptureFixture) -> None:
    class Refuses:
        @hookimpl
        def transform_request(self, ctx):
            raise InvalidRequest("bad input")

    runner = make_runner(Refuses(), trace=True)
    with caplog.at_level(logging.INFO, logger="llmgate.requests"), pytest.raises(InvalidRequest):
        await runner.call("transform_request", ctx())
    assert trace_lines(caplog)[0]["raised"] == "InvalidRequest"


async def test_without_tracing_the_plans_hold_the_implementations_themselves(
    caplog: pytest.LogCaptureFixture,
) -> None:
    plugin = SyncAnswers()
    runner = make_runner(plugin)
    with caplog.at_level(logging.DEBUG):
        await runner.call("resolve_mode", ctx())
    assert caplog.records == []
    # No wrapper, no check per call: tracing off runs the plugin's own function.
    assert runner.plan("resolve_mode").impls[0].function == plugin.resolve_mode
    assert make_runner(plugin, trace=True).plan("resolve_mode").impls[0].function != plugin.resolve_mode
