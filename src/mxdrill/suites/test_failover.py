"""The failover drill of seed 003 ("Test de basculement"), end to end, for each scenario.

One pytest item per row of the table of steps (`mxdrill.steps.STEPS`), in order, sharing one
`drill` per scenario; a step whose preconditions failed is skipped with the reason, so nothing
disruptive runs unless preflight found the backup healthy. To see what each step does, read the
table: every row names the function that runs it.
"""

from mxdrill.steps import drill_class

TestFailover = drill_class()
