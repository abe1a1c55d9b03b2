"""`journeyprobe rules`: Prometheus recording and alerting rules, or OpenSLO documents, for every SLO."""
