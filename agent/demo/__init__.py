"""The bundled demo shop that the example journeys probe: `python -m agent.demo.shop`.

The code lives in `agent.demo.shop` (`create_app`, `start_shop`) and `agent.demo.faults`; it is not
imported here so that `python -m agent.demo.shop` runs the module only once.
"""
