"""Training integrations: loggers and callbacks that record a trainer's run as a modelreg version."""
