from django import template
from django.utils.safestring import SafeString

from library.tile import tile_html

register = template.Library()


@register.simple_tag
def asset_tile(asset, oob=False, just_finished=False):
    """{% asset_tile a %}: a Library grid tile (library/tile.py); oob=True for an out-of-band
    swap, just_finished=True for a tile whose processing just ended."""
    return tile_html(asset, oob=oob, just_finished=just_finished)


@register.simple_tag
def asset_tiles(assets, oob=False, just_finished=False):
    """{% asset_tiles page.items %}: the tiles of `assets`, as {% asset_tile %} makes each, in one
    call: a template loop pays the engine's variable and argument resolution on every tile."""
    return SafeString("".join([tile_html(a, oob=oob, just_finished=just_finished) for a in assets]))
