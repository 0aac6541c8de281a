"""A provider type that echoes the last message, and one route."""

from litestar import get

from gateway import ChatRequest, ChatResponse, Choice, Message, ModelInfo, Provider, hookimpl


class EchoProvider(Provider):
    async def chat(self, request: ChatRequest) -> ChatResponse:
        text = request.messages[-1].content
        return ChatResponse(model=request.model,
                            choices=[Choice(message=Message(role="assistant", content=f"echo: {text}"))])

    async def list_models(self) -> list[ModelInfo]:
        return [ModelInfo(id="echo-1")]


@get("/api/echo/ping")
async def ping() -> dict[str, bool]:
    return {"pong": True}


@hookimpl
def gateway_provider_types(register):
    register("echo", EchoProvider)


@hookimpl
def gateway_routes():
    return [ping]
