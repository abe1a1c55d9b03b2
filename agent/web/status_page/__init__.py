"""The status page and the report: what a business reader sees of the journeys and their SLOs."""
