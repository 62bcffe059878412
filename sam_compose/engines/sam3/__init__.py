"""SAM 3 on ``transformers``: ``engine`` (text, exemplars, points and boxes) and ``models``
(loading the detector and tracker models from one folder or Hub id)."""
