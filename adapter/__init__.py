"""mc-adapter: FHIR R4 integration adapter for Meddelandecenter."""

__version__ = "0.1.0"
