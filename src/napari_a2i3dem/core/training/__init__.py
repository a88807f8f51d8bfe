"""Self-supervised training: pairs from the stack's own xy planes (:mod:`.pairs`), the engine
(:mod:`.engine`; settings in :mod:`.config`), its events (:mod:`.events`), checkpoints
(:mod:`.checkpoint`), the learning-rate schedule, the no-truth model check
(:mod:`.model_check`), time-boxed runs (:mod:`.timebox`), the pairs preview
(:mod:`.pairs_preview`) and the pause/stop control a front-end drives (:mod:`.run_control`)."""
