"""The engine's names for the admission rule of ``query_filters``, whose one home is
``evalplane.filters.scopes``: which traces (or sessions) the filters admit, and which of their
spans a ``query_mappings`` entry reads. Planning and loading ask here, so a
backfill and a continuous unit apply the rule the agreement tests check.
"""

from __future__ import annotations

from evalplane.filters.scopes import QueryFilters, admission_sql, parse_query_filters
from evalplane.filters.scopes import mapping_spans_sql as matching_ids

__all__ = ["QueryFilters", "admission_sql", "matching_ids", "parse_query_filters"]
