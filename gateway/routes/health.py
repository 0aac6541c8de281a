from litestar import get


@get("/health", summary="Liveness", tags=["gateway"], opt={"scope": "public"})
async def health() -> dict[str, str]:
    return {"status": "ok"}
