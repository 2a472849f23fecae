"""The one list of plugins: modules of a higher package that add entries to a registry of a
lower one. A registry never names its clients; it imports the modules listed here for it the
first time it is asked for its names or for a name it does not hold.

* :data:`SCORERS`: modules that ``@register`` scorers (``energy_ood.score.registry``).
"""

SCORERS = ("energy_ood.vlm.scores",)
