"""What notify's lists share at the API: the page a caller asks for and what their
descriptions say of it (`shared.pagination` gives the rest: the OpenAPI responses and
the `Link` to the next page).

The lists (deliveries, subscriptions, Encompass notices) allowed `limit` up to 500,
100 when not given, before they had cursors: they keep those, so no caller's request
stops working (`shared.pagination.page_query`).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shared.pagination import PageRequest, page_query, pages_text

DEFAULT_LIMIT = 100
MAX_LIMIT = 500

# `cursor` (from the previous page's Link), and `limit` from 1 to 500 (default 100): a
# 422 naming either when it is not one it could be.
ListPage = Annotated[PageRequest, Depends(page_query(default=DEFAULT_LIMIT, maximum=MAX_LIMIT))]

PAGES = pages_text(DEFAULT_LIMIT, MAX_LIMIT)
