import msgspec
from litestar import get
from litestar.datastructures import State

from ..plugins import PluginInfo


class PluginList(msgspec.Struct):
    plugins: list[PluginInfo]


@get("/api/plugins", summary="Discovered plugins", tags=["gateway"], opt={"scope": "admin"})
async def list_plugins(state: State) -> PluginList:
    return PluginList(plugins=state.plugins.plugins)
