from litestar import MediaType, Response, get

from ..observability.metrics import render


@get("/metrics", summary="Prometheus metrics", tags=["gateway"], media_type=MediaType.TEXT,
     description="Prometheus text format; see the README's Observability section.")
async def metrics() -> Response[bytes]:
    body, content_type = render()
    # As a header: a media_type would get a second "charset" appended.
    return Response(body, headers={"content-type": content_type})
