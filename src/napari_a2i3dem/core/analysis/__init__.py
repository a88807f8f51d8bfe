"""Measuring volumes: image metrics (:mod:`.metrics`), lateral-vs-axial resolution without truth
(:mod:`.resolution`), axial spectra (:mod:`.spectra`), scoring against a truth
(:mod:`.scoring`) and figures (:mod:`.figures`)."""
