"""Fencing: making sure a lost node can no longer touch anything (DESIGN.md, S4).

`runner` runs fence devices through the fence-agents protocol (key=value lines on
stdin; `off`/`on`/`reboot`/`status`/`monitor`/`list`/`metadata`), walks a node's
fencing topology level by level as Pacemaker does (`fence_node`), and checks that
every device answers and every node can be fenced (`verify`).
"""
