"""The hooks a gateway plugin can implement.

A plugin is a module (or any object) with functions marked ``@hookimpl``
(``from gateway import hookimpl``) whose names are the hooks below. A hook
implementation may accept only the arguments it needs. Hook names all start
with ``gateway_``; a misspelled one is reported when the plugin is loaded.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("gateway")


@hookspec
def gateway_provider_types(register):
    """Offer provider types.

    Called once while the app is built. ``register(type_name, cls)`` makes
    ``cls`` (a subclass of :class:`gateway.Provider`) the implementation of
    every ``[providers.<id>]`` table whose ``type`` is ``type_name``. Call it
    once per type you offer; the return value is ignored. ``cls.config_type``
    says which keys the table accepts.

    Example::

        @hookimpl
        def gateway_provider_types(register):
            register("echo", EchoProvider)
    """


@hookspec
def gateway_routes(config, providers):
    """Contribute HTTP routes.

    Called once while the app is built. ``config`` is the whole
    :class:`gateway.config.Config`; ``providers`` maps each configured
    provider id to its :class:`gateway.Provider` instance (disabled ones
    included; check ``provider.config.enabled``). Return a list of Litestar
    route handlers, controllers or routers (or ``None``); they are mounted on
    the app as they are. Raise :mod:`gateway.errors` exceptions from handlers
    and the gateway renders them.

    Every route gets the gateway's protections without opting in: API keys,
    the request body limit, and cancellation when the client hangs up (heard
    once the route has read the request body, so read it first). When
    keys are configured, a route needs a *user* key (an admin key also works)
    unless it declares another scope in its ``opt``:
    ``opt={"scope": "admin"}`` for anything that changes the gateway or its
    upstreams (pulling or deleting models, ...), ``opt={"scope": "public"}``
    for what must work without a key (health probes). A ``Router`` or
    ``Controller`` with that ``opt`` sets the scope of all its routes. An
    unknown scope name is treated as admin.

    Example::

        @hookimpl
        def gateway_routes():
            @get("/api/echo/ping")
            async def ping() -> dict:
                return {"pong": True}

            @delete("/api/echo/cache", opt={"scope": "admin"})
            async def clear() -> None:
                ...
            return [ping, clear]
    """


@hookspec
def gateway_chat_request(call):
    """Adapt a chat request before it goes upstream.

    Called for every chat, whichever API it came through (``/api/chat``,
    ``/v1/chat/completions``, streaming or not). ``call`` is a
    :class:`gateway.ChatCall`: ``call.provider`` is the provider instance the
    request goes to, ``call.request`` the :class:`gateway.ChatRequest`, which
    you may change in place, ``call.response_headers`` a dict of headers
    added to the client's reply and ``call.state`` a dict you may use to pass
    things to ``gateway_chat_response``. Return ``None``; an ``async def``
    implementation is awaited. Raise a :mod:`gateway.errors` exception to
    refuse the request. When the provider fails and one of its ``fallbacks``
    is tried, the hooks run again with ``call.provider`` set to the fallback,
    a fresh copy of the client's request and an empty ``call.state``.

    Example::

        @hookimpl
        def gateway_chat_request(call):
            if call.request.temperature is None:
                call.request.temperature = 0.2
    """


@hookspec
def gateway_chat_response(call, response):
    """Adapt a chat reply before it goes back to the client.

    ``call`` is the same object ``gateway_chat_request`` saw. ``response`` is
    a :class:`gateway.ChatResponse` you may change in place (for example fill
    in ``response.usage``). For a streamed reply this is called once the
    stream has ended, with the chunks' text joined into one message; changes
    to ``response.usage`` reach the client in the final usage event, while
    the text has already been sent. Return ``None``; an ``async def``
    implementation is awaited.

    Example::

        @hookimpl
        def gateway_chat_response(call, response):
            if response.usage is None:
                words = len(response.text.split())
                response.usage = Usage(completion_tokens=words,
                                       total_tokens=words, estimated=True)
    """


@hookspec
def gateway_startup(app):
    """Run code when the app starts, after every provider has been started.

    ``app`` is the Litestar application; ``app.state.providers`` maps provider
    ids to instances. May return an awaitable, which is awaited. Return value
    is otherwise ignored.

    Example::

        @hookimpl
        def gateway_startup(app):
            print("providers:", ", ".join(app.state.providers))
    """


@hookspec
def gateway_shutdown(app):
    """Run code when the app stops, before the providers are closed.

    Same arguments and return value as ``gateway_startup``.

    Example::

        @hookimpl
        async def gateway_shutdown(app):
            await my_client.aclose()
    """
