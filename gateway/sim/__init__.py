"""The fleet simulator, shared by ``firegrid demo`` and a district-scale ``firegrid simulate``.

Each step is separate so a bigger run swaps only what it must:

- :mod:`~gateway.sim.district` draws the grid ladder and its people and stations from a plan;
- :mod:`~gateway.sim.fleet` places devices of every shipped profile in the grids;
- :mod:`~gateway.sim.installer` registers all of it through the REST API;
- :mod:`~gateway.sim.behaviour`, :mod:`~gateway.sim.patrol` and :mod:`~gateway.sim.faults`
  turn devices, workers and the odd bad message into MQTT messages, paced by a
  :class:`~gateway.sim.plan.TrafficPlan`;
- :mod:`~gateway.sim.traffic` orders them in time and :mod:`~gateway.sim.publisher` sends them;
- :mod:`~gateway.sim.scenario` scripts episodes (a kitchen fire, a fire confirmed by two
  detectors, an overheating cable, lost fire-water pressure, a flat battery) that make the
  rules fire early and again every few minutes;
- :mod:`~gateway.sim.responders` plays the people: grid workers' phones and a duty officer
  (tokens from :mod:`~gateway.sim.tokens`, dispatches through :mod:`~gateway.sim.listener`)
  walking each incident round the closed loop as :mod:`~gateway.sim.response` decides.
"""
