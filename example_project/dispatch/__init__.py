"""Server-rendered GTS dispatch pages: the EIC's board and the driver's offers."""
