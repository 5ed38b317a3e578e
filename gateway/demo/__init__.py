"""``firegrid demo``: an embedded broker, the gateway and its REST API, and a simulated fleet
shown live in the terminal. The command is :func:`gateway.demo.command.demo`."""
