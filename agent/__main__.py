"""`python -m agent` runs the journeyprobe command line."""

from agent.cli.main import main

if __name__ == "__main__":
    main()
