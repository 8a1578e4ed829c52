"""Failure drills: YAML procedures run against the network-namespace lab, with a client
probing the service through its VIP and a split-brain detector sampling every host.

- `model`: what a drill is (setup, steps, expectations), frozen dataclasses;
- `spec`: reading and validating drill files (file:line:col problems, like the config);
- `record`: what a run observed (probe samples, holder samples, marks) — plain data;
- `expectations`: judging a record against a drill's expectations (pure);
- `netlink`, `detector`, `probe`: the samplers (threads, no process per sample);
- `runner`: drives the lab through one drill; `report`: Markdown, HTML+SVG and JSON.
"""
