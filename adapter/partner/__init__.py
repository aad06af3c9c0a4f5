"""Partner messaging: `POST /fhir/$process-message` (FHIR messages with MessageHeader), reliably."""
