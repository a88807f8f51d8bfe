"""Reconstruction: the streaming engine (:mod:`.reconstruction`), tiles and their blending
(:mod:`.tiling`) and bands of rows on a dask cluster (:mod:`.distributed`)."""
