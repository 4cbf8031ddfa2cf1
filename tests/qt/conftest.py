from tests.sim.fixtures import http, make_sim, qtsim

__all__ = ["http", "make_sim", "qtsim"]
