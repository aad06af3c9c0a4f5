"""Results (MC-R17): DiagnosticReports delivered to the orderer's personal inbox."""
