"""The fleet simulator, shared by ``firegrid demo`` and a district-scale ``firegrid simulate``.

Each step is separate so a bigger run swaps only what it must:

- :mod:`~gateway.sim.district` draws the grid ladder and its people and stations from a plan;
- :mod:`~gateway.sim.fleet` places devices of every shipped profile in the grids;
- :mod:`~gateway.sim.installer` registers all of it through the REST API;
- :mod:`~gateway.sim.behaviour`, :mod:`~gateway.sim.patrol` and :mod:`~gateway.sim.faults`
  turn devices, workers and the odd bad message into MQTT messages, paced by a
  :class:`~gateway.sim.plan.TrafficPlan`;
- :mod:`~gateway.sim.traffic` orders them in time and :mod:`~gateway.sim.publisher` sends them.
"""
