"""firegrid — IoT fire-safety monitoring gateway for grid-based community governance.

网格化管理 + 智慧消防: device readings in, grid incidents out, every reading to InfluxDB.
"""

__version__ = "0.1.0"

# A compiled hot module (setup.py, mypyc) must not run an older source than the one beside it.
from gateway.compiled import check as _check_compiled

_check_compiled()
