"""The hook runner: async implementations are awaited before deciding, order, mode scoping."""

from __future__ import annotations

from types import SimpleNamespace

import pluggy
import pytest

from proxy import hookspecs
from proxy.context import Endpoint, ModeSpec
from proxy.hookspecs import hookimpl
from proxy.runner import HookRunner


def make_runner(*plugins: object) -> HookRunner:
    pm = pluggy.PluginManager("llmgate")
    pm.add_hookspecs(hookspecs)
    for index, plugin in enumerate(plugins):
        pm.register(plugin, name=f"p{index}")
    return HookRunner(pm)


def ctx(mode: str | None = None) -> SimpleNamespace:
    return SimpleNamespace(mode=mode)


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


async def test_async_none_falls_through_to_the_next_implementation() -> None:
    # With pluggy alone the coroutine of AsyncAbstains would count as the first result.
    runner = make_runner(SyncAnswers(), AsyncAbstains())
    assert await runner.first("resolve_mode", ctx()) == "bypass"


async def test_async_result_is_awaited() -> None:
    runner = make_runner(AsyncAnswers("emulator"))
    assert await runner.first("resolve_mode", ctx()) == "emulator"


async def test_tryfirst_and_trylast_order() -> None:
    calls: list[str] = []

    def plugin(name: str, **marks: bool) -> object:
        class P:
            @hookimpl(**marks)
            async def request_finished(self, ctx):
                calls.append(name)

        return P()

    runner = make_runner(plugin("last", trylast=True), plugin("early"), plugin("late"), plugin("first", tryfirst=True))
    await runner.each("request_finished", ctx())
    # tryfirst, then later registrations first, then trylast (pluggy's order).
    assert calls == ["first", "late", "early", "last"]


async def test_each_collects_every_non_none_result() -> None:
    runner = make_runner(AsyncAnswers("a"), AsyncAbstains(), AsyncAnswers("b"))
    assert await runner.each("resolve_mode", ctx()) == ["b", "a"]


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
    await runner.first("transform_request", ctx("alpha"))
    assert seen == ["global", "alpha"]
    seen.clear()
    await runner.first("transform_request", ctx("beta"))
    assert seen == ["global", "beta"]


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
        runner.each_sync("register_modes")
