"""``python -m gateway.demo``: the demo without the ``firegrid`` entry point."""

import typer

from gateway.demo.command import demo

typer.run(demo)
