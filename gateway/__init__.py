"""firegrid — IoT fire-safety monitoring gateway for grid-based community governance.

网格化管理 + 智慧消防: device readings in, grid incidents out, every reading to InfluxDB.
"""

__version__ = "0.1.0"
