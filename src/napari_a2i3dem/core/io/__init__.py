"""Data in and out: TIFF stacks and their voxel spacing (:mod:`.tiff`), OME-Zarr inputs and the
output targets a reconstruction streams into (:mod:`.outputs`), atomic file writes and the
output policy (:mod:`.atomic`), the lazy/in-memory choice (:mod:`.lazy`), physical units
(:mod:`.units`) and BioImage Model Zoo packages (:mod:`.bioimageio`)."""
