"""The official accounts one deployment serves: their names, server URLs and encrypted secrets."""
