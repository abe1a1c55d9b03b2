"""The `journeyprobe` commands: a thin layer over the daemon, the one-shot check and the SLO tools."""
