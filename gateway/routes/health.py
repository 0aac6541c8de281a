from litestar import get


@get("/health", summary="Liveness", tags=["gateway"])
async def health() -> dict[str, str]:
    return {"status": "ok"}
