"""How an anisotropic stack comes to be, and its synthetic imitation: the acquisition operator
(slice profile, axial sampling, cubic interpolation; :mod:`.acquisition`), EM noise and artefacts
(:mod:`.degradations`), their estimate from the stack itself (:mod:`.calibration`) and the
bundled synthetic sample (:mod:`.sample`)."""
