from litestar import get, head


@get("/health", summary="Liveness", tags=["gateway"], opt={"scope": "public"})
async def health() -> dict[str, str]:
    return {"status": "ok"}


# Load balancers and uptime checks often ask with HEAD.
@head("/health", summary="Liveness, without a body", tags=["gateway"], opt={"scope": "public"})
async def health_head() -> None:
    return None
