from django import template

from library.tile import tile_html

register = template.Library()


@register.simple_tag
def asset_tile(asset, oob=False, just_finished=False):
    """{% asset_tile a %}: a Library grid tile (library/tile.py); oob=True for an out-of-band
    swap, just_finished=True for a tile whose processing just ended."""
    return tile_html(asset, oob=oob, just_finished=just_finished)
