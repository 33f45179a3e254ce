"""The GTS logistics app: stations, drivers, EICs and their stock requests."""
