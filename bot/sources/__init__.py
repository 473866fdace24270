"""News-source building blocks: fetching, feed parsing, page extraction and link normalisation."""
