"""The deterministic simulator: a virtual clock, a model of etcd, and (to come) a
simulated network, agents, fault schedules and invariant checkers.

Everything here is single-threaded and driven by `VirtualClock`: the same seed and the same
sequence of operations give the same run, byte for byte, so a failing seed replays exactly.
"""
