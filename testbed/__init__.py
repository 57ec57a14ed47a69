"""nr-femto-testbed: emulation testbed for 5G NR Femto security."""

__version__ = "0.1.0"
